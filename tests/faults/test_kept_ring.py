"""A service keeps its ring size from load to load: a later load, edit or
undrain that brings more serving backends than the kept ring has slots is
refused (one line, exit 2, nothing changed), as a --ring-size would be."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui import bpfsys
from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination
from l4lb_tui.errors import BalancerError
from tests.conftest import veth_netns

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).parents[2]
SVC = "10.99.0.4:80/tcp"
KEY = ServiceKey("10.99.0.4", 80, 6)


def l4lb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=60,
    )  # fmt: skip


def csv(path: Path, count: int, first: int = 20) -> str:
    path.write_text(
        "".join(f"10.99.0.{first + i},02:00:00:00:00:{first + i:02x}\n" for i in range(count))
    )
    return str(path)


@pytest.fixture
def seven(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """A balancer whose service keeps a ring of 7 slots, with 7 backends."""
    with veth_netns("h12ring") as (ns, dev, _):
        assert l4lb("--netns", ns, "attach", "-i", dev, "-s", "10.99.0.9").returncode == 0
        try:
            res = l4lb("--netns", ns, "map", "-i", dev, "-f", csv(tmp_path / "seven.csv", 7),
                       "--vip", SVC, "--ring-size", "7", "--fill", "roundrobin")  # fmt: skip
            assert res.returncode == 0, res.stderr
            yield ns, dev, tmp_path
        finally:
            l4lb("--netns", ns, "detach", "-i", dev)


def rings(ns: str, dev: str) -> bytes:
    return bpfsys.read_array(Balancer(dev, netns=ns).maps_dir / "rings").raw


def refused(res: subprocess.CompletedProcess[str], *words: str) -> None:
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("l4lb: error: "), res.stderr
    for word in words:
        assert word in res.stderr, res.stderr


@pytest.mark.parametrize("fill", [(), ("--fill", "roundrobin"), ("--fill", "maglev")])
def test_map_with_a_kept_ring_too_small(
    seven: tuple[str, str, Path], fill: tuple[str, ...]
) -> None:
    ns, dev, tmp = seven
    before = rings(ns, dev)
    eight = csv(tmp / "eight.csv", 8)
    res = l4lb("--netns", ns, "map", "-i", dev, "-f", eight, "--vip", SVC, *fill)
    refused(res, "keeps the ring of 7 slots", "8 backends", "--ring-size")
    assert rings(ns, dev) == before
    # A ring size given that fits is taken.
    res = l4lb("--netns", ns, "map", "-i", dev, "-f", eight, "--vip", SVC, "--ring-size", "11")
    assert res.returncode == 0, res.stderr
    assert "8 backends, 11 slots" in res.stdout


def test_backend_add_and_undrain_past_a_kept_ring(seven: tuple[str, str, Path]) -> None:
    ns, dev, _ = seven
    before = rings(ns, dev)
    add = ("backend", "add", "-i", dev, "--vip", SVC, "--ip", "10.99.0.40",
           "--mac", "02:00:00:00:00:28")  # fmt: skip
    refused(l4lb("--netns", ns, *add), "keeps the ring of 7 slots")
    assert rings(ns, dev) == before
    # Drained, the eighth takes no slot; undrained or weighted up, it would.
    assert l4lb("--netns", ns, "backend", "drain", "-i", dev, "--vip", SVC,
                "--ip", "10.99.0.20").returncode == 0  # fmt: skip
    assert l4lb("--netns", ns, *add).returncode == 0
    before = rings(ns, dev)
    undrain = ("backend", "undrain", "-i", dev, "--vip", SVC, "--ip", "10.99.0.20")
    refused(l4lb("--netns", ns, *undrain), "8 backends")
    assert rings(ns, dev) == before


def test_the_api_refuses_a_kept_ring_too_small(seven: tuple[str, str, Path]) -> None:
    """apply and the console load through Balancer.load."""
    ns, dev, _ = seven
    bal = Balancer(dev, netns=ns)
    dests = [Destination(f"10.99.0.{20 + i}", f"02:00:00:00:00:{20 + i:02x}", 1) for i in range(8)]
    with pytest.raises(BalancerError, match="keeps the ring of 7 slots"):
        bal.load([KEY], dests)
