"""IPv6 services through the control plane: the CLI's map and stats, the
per-family checks, the outer v6 source, edits and removal (the packets
themselves: test_packets6.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui import bpfsys
from l4lb_tui.abi import Reason, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination
from l4lb_tui.errors import BalancerError
from l4lb_tui.services import parse_service
from tests.conftest import run, veth_netns
from tests.dataplane.test_cli_kernel import l4lb
from tests.dataplane.test_packets6 import B6, tcp6, udp6

pytestmark = pytest.mark.kernel

CSV6 = "".join(f"{b.ip},{b.mac}\n" for b in B6)


@pytest.fixture
def v6_link() -> Iterator[tuple[str, str]]:
    """A namespace whose veth holds a global IPv6 address (the outer source)."""
    with veth_netns("h17a") as (ns, dev, _):
        run(["ip", "-n", ns, "-6", "addr", "add", "fd00::1/64", "dev", dev, "nodad"])
        try:
            yield ns, dev
        finally:
            l4lb(ns, "detach", "-i", dev)


def test_map_and_stats_show_a_v6_service(v6_link: tuple[str, str], tmp_path: Path) -> None:
    ns, dev = v6_link
    csv = tmp_path / "v6.csv"
    csv.write_text("ipv6,mac\n" + CSV6)
    assert l4lb(ns, "attach", "-i", dev).returncode == 0
    res = l4lb(ns, "map", "-i", dev, "-f", str(csv), "--vip", "[fd00::4]:8080/tcp")
    assert res.returncode == 0, res.stderr
    doc = json.loads(l4lb(ns, "stats", "-i", dev, "--once", "--json").stdout)
    assert {b["ip"] for b in doc["backends"]} == {b.ip for b in B6}
    text = l4lb(ns, "stats", "-i", dev, "--once").stdout
    assert "[fd00::4]:8080/tcp" in text and "fd00::12" in text


def test_a_service_takes_backends_of_its_own_family_only(
    v6_link: tuple[str, str], tmp_path: Path
) -> None:
    ns, dev = v6_link
    csv = tmp_path / "v6.csv"
    csv.write_text(CSV6)
    assert l4lb(ns, "attach", "-i", dev).returncode == 0
    before = l4lb(ns, "stats", "-i", dev, "--once", "--json").stdout
    res = l4lb(ns, "map", "-i", dev, "-f", str(csv), "--vip", "10.0.0.4:8080/tcp")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0, "one line"
    assert "is IPv4 and backend fd00::11 is IPv6" in res.stderr
    assert l4lb(ns, "stats", "-i", dev, "--once", "--json").stdout == before, "nothing changed"


def test_v4_backends_refused_for_a_v6_service() -> None:
    with veth_netns("h17a") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", saddr6="fd00::1")
        try:
            v4 = [Destination("10.0.0.11", "02:00:00:00:00:0b")]
            with pytest.raises(BalancerError, match=r"is IPv6 and backend 10\.0\.0\.11 is IPv4"):
                bal.load(parse_service("[fd00::4]:80/tcp"), v4)
            assert bal.state().services == ()
        finally:
            bal.detach()


def test_no_v6_source_no_v6_service() -> None:
    with veth_netns("h17a") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver")
        try:
            with pytest.raises(BalancerError, match="has no global IPv6 address"):
                bal.load(parse_service("[fd00::4]:80/tcp"), B6)
            assert bal.state().services == ()
        finally:
            bal.detach()


def test_edit_and_remove_a_v6_service() -> None:
    """A drain goes through the edit path; removing a VIP's last service
    takes its marker with it (a malformed packet to it then passes)."""
    with veth_netns("h17a") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", saddr6="fd00::1")
        fd = bpfsys.obj_get(bal.prog_pin)
        try:
            _edit_and_remove(bal, fd)
        finally:
            os.close(fd)
            bal.detach()


def _edit_and_remove(bal: Balancer, fd: int) -> None:
    tcp, udp = ServiceKey("fd00::4", 8080, 6), ServiceKey("fd00::4", 9000, 17)
    bal.load([tcp, udp], B6)
    bal.set_drain(udp, "fd00::13", True)
    (svc,) = [s for s in bal.state().services if s.key == udp]
    assert [b.draining for b in svc.backends] == [False, False, True]
    dsts = {bpfsys.test_run(fd, udp6(sport=s)).data[38:54] for s in range(100, 300)}
    assert len(dsts) == 2, "a drained backend takes no new flows"

    bad = bytearray(tcp6())
    bad[18:20] = (900).to_bytes(2, "big")  # payload length past the frame

    def reason_of(frame: bytes) -> tuple[str, Reason]:
        before = bal.counters().reasons
        verdict = bpfsys.test_run(fd, frame).verdict
        after = bal.counters().reasons
        (moved,) = [r for r in Reason if after[r][0] != before[r][0]]
        return verdict, moved

    assert reason_of(bytes(bad)) == ("XDP_DROP", Reason.DROP_MALFORMED)
    bal.remove_service(tcp)
    assert reason_of(tcp6()) == ("XDP_PASS", Reason.PASS_NO_SERVICE)
    bal.remove_service(udp)
    assert bal.state().services == ()
    assert reason_of(bytes(bad)) == ("XDP_PASS", Reason.PASS_NOT_VIP)
    assert reason_of(udp6()) == ("XDP_PASS", Reason.PASS_NOT_VIP)
