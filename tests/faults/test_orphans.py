"""A `service del` killed between its two writes leaves the service's live
entry without its index slot: its established flows would go on being
balanced, unseen by stats.  The next change of the balancer retires it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from l4lb_tui import bpfsys
from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination
from tests.dataplane.conftest import attached
from tests.killed_reload import ROOT, cut_reload

pytestmark = pytest.mark.kernel

GONE = ServiceKey("10.0.0.4", 8080, 6)
OTHER = ServiceKey("10.0.0.4", 80, 6)  # the same VIP: its filter bit stays
BACKENDS = [Destination(f"10.2.0.{i}", f"02:00:00:02:00:{i:02x}") for i in range(1, 4)]


def packet(sport: int, flags: str) -> bytes:
    return bytes(
        Ether() / IP(src="10.9.0.1", dst=GONE.vip) / TCP(sport=sport, dport=GONE.port, flags=flags)
    )


@pytest.fixture
def bed() -> Iterator[tuple[Balancer, int]]:
    with attached("l4o") as made:
        yield made


def kill_a_removal(bal: Balancer, fd: int, tmp: Path) -> None:
    bal.load([GONE, OTHER], BACKENDS)
    for sport in range(2000, 2020):
        assert bpfsys.test_run(fd, packet(sport, "S")).verdict == "XDP_TX"
        assert bpfsys.test_run(fd, packet(sport, "A")).verdict == "XDP_TX"
    ns = bal.netlink.netns or ""
    cut = cut_reload(
        ["--netns", ns, "service", "del", "-i", bal.ifname, "--vip", f"{GONE.vip}:{GONE.port}/tcp"],
        0.0,
        tmp,
        lines=1,
    )
    assert cut is not None and cut.ran == 1
    assert GONE not in {s.key for s in bal.state().services}
    # The state the fix repairs: the established flows still balanced.
    assert bpfsys.test_run(fd, packet(2000, "A")).verdict == "XDP_TX"


def established_go_nowhere(fd: int) -> bool:
    return all(bpfsys.test_run(fd, packet(s, "A")).verdict == "XDP_PASS" for s in range(2000, 2020))


@pytest.mark.parametrize("then", ["map", "service del"])
def test_the_next_change_retires_a_half_removed_service(
    bed: tuple[Balancer, int], tmp_path: Path, then: str
) -> None:
    bal, fd = bed
    kill_a_removal(bal, fd, tmp_path)
    ns = bal.netlink.netns or ""
    cli = [sys.executable, "-m", "l4lb_tui.cli", "--netns", ns]
    if then == "map":
        csv = tmp_path / "other.csv"
        csv.write_text("10.2.0.9, 02:00:00:02:00:09\n")
        argv = [*cli, "map", "-i", bal.ifname, "-f", str(csv), "--vip", "10.0.0.4:80/tcp"]
    else:
        argv = [*cli, "service", "del", "-i", bal.ifname, "--vip", "10.0.0.4:80/tcp"]
    res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    assert res.returncode == 0, res.stderr
    assert established_go_nowhere(fd), "the half-removed service still balances its flows"
