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


def config(tmp: Path, ns: str, dev: str, count: int, service: str = "") -> str:
    """A config for the fixture's balancer: `count` backends, and `service`'s
    extra keys (no fill or ring_size unless given)."""
    backends = "".join(
        f'  {{ ip = "10.99.0.{20 + i}", mac = "02:00:00:00:00:{20 + i:02x}" }},\n'
        for i in range(count)
    )
    path = tmp / f"l4lb{count}.toml"
    path.write_text(
        f'[[balancer]]\ninterface = "{dev}"\nnetns = "{ns}"\nmode = "generic"\n'
        f'source = "10.99.0.9"\n\n[[balancer.service]]\nvip = "{SVC}"\n{service}'
        f"backends = [\n{backends}]\n"
    )
    return str(path)


def test_apply_and_diff_say_the_ring_was_kept(seven: tuple[str, str, Path]) -> None:
    """The file names no ring_size: the running ring of 7 is kept, and 8
    backends do not fit it.  apply said only the ring's rule, not where the 7
    came from; diff showed the plan and exit 0."""
    ns, dev, tmp = seven
    assert l4lb("--netns", ns, "attach", "-i", dev, "--mode", "generic").returncode == 0
    before = rings(ns, dev)
    eight = config(tmp, ns, dev, 8)
    kept = "the running ring of 7 slots was kept because the file names no ring_size"
    refused(l4lb("apply", "-f", eight), kept, "nothing was changed")
    assert rings(ns, dev) == before
    res = l4lb("diff", "-f", eight)
    refused(res, "apply would refuse this", kept)
    assert f"~ service {KEY}:" in res.stdout and "! apply would refuse this" in res.stdout


def test_a_missing_fill_keeps_the_running_one(seven: tuple[str, str, Path]) -> None:
    """A missing ring_size kept the running ring while a missing fill switched
    the service to maglev (and a ring of 7 made that refuse for no reason the
    file shows): both are kept now."""
    ns, dev, tmp = seven
    assert l4lb("--netns", ns, "attach", "-i", dev, "--mode", "generic").returncode == 0
    seven_file = config(tmp, ns, dev, 7)
    res = l4lb("diff", "-f", seven_file)
    assert res.returncode == 0 and res.stdout.strip().endswith("as configured"), res
    res = l4lb("apply", "-f", config(tmp, ns, dev, 8, "ring_size = 11\n"))
    assert res.returncode == 0, res.stderr
    assert "roundrobin" in l4lb("export").stdout.split(f'vip = "{SVC}"')[1].split("\n")[1]


def test_diff_runs_the_loads_own_checks(seven: tuple[str, str, Path]) -> None:
    """A backend that is the balancer's own address: apply refused it, diff
    showed the plan and exit 0."""
    ns, dev, tmp = seven
    assert l4lb("--netns", ns, "attach", "-i", dev, "--mode", "generic").returncode == 0
    subprocess.run(["ip", "-n", ns, "addr", "add", "10.99.0.50/24", "dev", dev], check=True)  # noqa: S603
    path = Path(config(tmp, ns, dev, 6))
    own = '  { ip = "10.99.0.50", mac = "02:00:00:00:00:32" },\n]\n'
    path.write_text(path.read_text().removesuffix("]\n") + own)
    before = rings(ns, dev)
    refused(l4lb("apply", "-f", str(path)), "10.99.0.50", "nothing was changed")
    refused(l4lb("diff", "-f", str(path)), "apply would refuse this", "10.99.0.50")
    assert rings(ns, dev) == before
