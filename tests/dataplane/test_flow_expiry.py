"""Occupancy counts live entries only (t17/v17 MEDIUM-6), on the real
program and the real CLI: connections closed by RST (a 10 s lifetime) fill
half of each 4k table and `stats` warns; then, with no packet sent, their
entries pass their lifetime and stop being counted, for IPv4 and IPv6
alike, and the warning goes, while UDP flows (300 s) stay counted.  The
daemon's watch says each table's warning and recovery on its own lines."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP

from l4lb_tui import bpfsys, flowlive
from l4lb_tui.balancer import Balancer
from l4lb_tui.daemon.flowwatch import FlowWatch
from l4lb_tui.model import FlowOccupancy
from l4lb_tui.services import parse_service
from tests.conftest import veth_netns
from tests.dataplane.conftest import BACKENDS
from tests.dataplane.test_flow_sizing import l4lb
from tests.dataplane.test_packets import eth, udp_to
from tests.dataplane.test_packets6 import B6, SADDR6, tcp6, udp6

pytestmark = pytest.mark.kernel

SMALL = 1 << 12
CLOSED = 2400  # RST'd connections per family: over half of a 4k table
OPEN = 20  # UDP flows per family, live for 300 s
RST_LIFE = 10.0  # seconds: the RST state's lifetime (abi.FLOW_TTL)


def _flows(fd: int, frames: list[bytes], sport_at: int, count: int) -> None:
    """`count` flows from ports 20000.., each sent `frames` in turn."""
    for i in range(count):
        port = (20000 + i).to_bytes(2, "big")
        for f in frames:
            frame = f[:sport_at] + port + f[sport_at + 2 :]
            assert bpfsys.test_run(fd, frame).verdict == "XDP_TX"


def tcp4(flags: str) -> bytes:
    return bytes(eth() / IP(src="10.0.0.2", dst="10.0.0.4") / TCP(dport=8080, flags=flags))


def _fill(bal: Balancer, fd: int, watch: FlowWatch, said: list[str]) -> tuple[int, int]:
    """UDP flows, then RST'd TCP connections, IPv4's then IPv6's, the
    daemon's watch looking after each family (v17 LOW-A: each table's
    warning is said on its own); the entries the UDP flows hold (v4, v6)."""
    _flows(fd, [udp_to(), udp_to()], 34, OPEN)
    _flows(fd, [udp6(), udp6()], 54, OPEN)
    occ = bal.counters()
    open4, open6 = _entries(occ.occupancy), _entries(occ.occupancy6)
    assert (open4, open6) == (OPEN, OPEN)
    watch.tick([("c17x", bal)])  # a baseline: nothing said
    _flows(fd, [tcp4("S"), tcp4("A"), tcp4("R")], 34, CLOSED)
    watch.tick([("c17x", bal)])
    assert len(said) == 1 and said[0].startswith("flows: c17x: affinity at risk: flow table ")
    _flows(fd, [tcp6(), tcp6(flags="A"), tcp6(flags="R")], 54, CLOSED)
    watch.tick([("c17x", bal)])
    assert len(said) == 2, said
    assert said[1].startswith("flows: c17x: affinity at risk: IPv6 flow table "), said
    return open4, open6


def _entries(occ: FlowOccupancy | None) -> int:
    assert occ is not None and not occ.sampled
    return occ.entries


def _stats(ns: str, dev: str) -> dict[str, object]:
    done = l4lb("--netns", ns, "stats", "-i", dev, "--once", "--json")
    assert done.returncode == 0, done.stderr
    doc: dict[str, object] = json.loads(done.stdout)
    return doc


def _table(doc: dict[str, object], name: str) -> int:
    table = doc[name]
    assert isinstance(table, dict)
    return int(table["entries"])


def _until(done: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if done():
            return True
        time.sleep(0.5)
    return done()


def test_closed_connections_stop_counting_once_their_lifetime_passes(tmp_path: Path) -> None:
    with veth_netns("c17x") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", flows=SMALL, flows6=SMALL, saddr6=SADDR6)
        v4 = [k for s in ("10.0.0.4:8080/tcp", "10.0.0.4:9000/udp") for k in parse_service(s)]
        bal.load(v4, BACKENDS)
        v6 = [k for s in ("[fd00::4]:8080/tcp", "[fd00::4]:9000/udp") for k in parse_service(s)]
        bal.load(v6, B6)
        said: list[str] = []
        watch = FlowWatch(said.append, every=0.0)
        try:
            with bpfsys.opened(bpfsys.obj_get(bal.prog_pin)) as fd:
                open4, open6 = _fill(bal, fd, watch, said)
            _expire(bal, ns, dev, open4, open6, time.monotonic())
            watch.tick([("c17x", bal)])
        finally:
            bal.detach()
        assert said[2:] == [
            "flows: c17x: flow table recovered, no flow losing its affinity: 20 of 4,096 entries",
            "flows: c17x: IPv6 flow table recovered, no flow losing its affinity: "
            "20 of 4,096 entries",
        ], said


def _expire(bal: Balancer, ns: str, dev: str, open4: int, open6: int, filled: float) -> None:
    full = _stats(ns, dev)
    assert _table(full, "flow_table") > SMALL // 2, full
    assert _table(full, "flow_table6") > SMALL // 2, full
    warning = str(full["warning"])
    assert warning.startswith("flow table "), warning
    assert "IPv6 flow table" in warning, warning
    seen = bal.counters().flows, bal.counters().flows6

    def expired() -> bool:
        occ = bal.counters()
        return (occ.occupancy, occ.occupancy6) == (
            FlowOccupancy(SMALL, open4),
            FlowOccupancy(SMALL, open6),
        )

    assert _until(expired, RST_LIFE + 6), (
        bal.counters().occupancy,
        bal.counters().occupancy6,
        open4,
        open6,
    )
    assert time.monotonic() - filled > RST_LIFE - 1, "gone before their lifetime"
    assert (bal.counters().flows, bal.counters().flows6) == seen, "no packet was sent"
    quiet = _stats(ns, dev)
    assert _table(quiet, "flow_table") == open4
    assert _table(quiet, "flow_table6") == open6
    assert quiet["warning"] is None, quiet["warning"]


def test_the_clock_read_is_the_one_entries_are_stamped_with() -> None:
    with veth_netns("c17k") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", flows=SMALL)
        try:
            bal.load([k for k in parse_service("10.0.0.4:9000/udp")], BACKENDS)
            with bpfsys.opened(bpfsys.obj_get(bal.prog_pin)) as fd:
                _flows(fd, [udp_to(), udp_to()], 34, 1)
            before = bpfsys.jiffies32()
            with bpfsys.opened(bpfsys.obj_get(bal.map_pin("flows"))) as fd:
                raw = bpfsys.lookup_runs(fd, bpfsys.map_info(fd), [(0, SMALL)])
            stamps = {
                int.from_bytes(raw[i + flowlive.SEEN4 : i + flowlive.SEEN4 + 4], "little")
                for i in range(0, len(raw), 32)
                if raw[i + flowlive.STATE4 - 1]  # a protocol: the one stored entry
            }
            assert len(stamps) == 1
            # Stamped a moment before: a few jiffies at most on a busy host.
            assert 0 <= (before - stamps.pop()) % (1 << 32) < 250
        finally:
            bal.detach()
