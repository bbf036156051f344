"""A backend that is the balancer's own address, or its subnet's broadcast,
is refused by every load (map, backend add), which alone knows the link's
addresses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from l4lb_tui import validation
from tests.conftest import run, veth_netns

ROOT = Path(__file__).parents[2]
SVC = "10.99.0.4:80/tcp"


def l4lb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=60,
    )  # fmt: skip


def test_own_address_problem() -> None:
    addrs = ["10.99.0.3/24", "192.0.2.1/31"]
    assert "the balancer's own" in (validation.own_address_problem("10.99.0.3", addrs, "d") or "")
    said = validation.own_address_problem("10.99.0.255", addrs, "d") or ""
    assert "broadcast address of d's subnet 10.99.0.0/24" in said
    assert validation.own_address_problem("10.99.0.11", addrs, "d") is None
    # A /31 has no broadcast address (RFC 3021).
    assert validation.own_address_problem("192.0.2.0", addrs, "d") is None


@pytest.mark.kernel
@pytest.mark.parametrize(("ip", "said"), [("10.99.0.3", "the balancer's own"),
                                          ("10.99.0.255", "broadcast address")])  # fmt: skip
def test_map_and_add_refuse_the_balancers_own_address(tmp_path: Path, ip: str, said: str) -> None:
    with veth_netns("h12own") as (ns, dev, _):
        run(["ip", "-n", ns, "address", "add", "10.99.0.3/24", "dev", dev])
        assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
        try:
            bad = tmp_path / "bad.csv"
            bad.write_text(f"10.99.0.11,02:00:00:00:00:0b\n{ip},02:00:00:00:00:0c\n")
            res = l4lb("--netns", ns, "map", "-i", dev, "-f", str(bad), "--vip", SVC)
            assert res.returncode == 2 and said in res.stderr, res.stderr
            good = tmp_path / "good.csv"
            good.write_text("10.99.0.11,02:00:00:00:00:0b\n")
            res = l4lb("--netns", ns, "map", "-i", dev, "-f", str(good), "--vip", SVC)
            assert res.returncode == 0, res.stderr
            res = l4lb("--netns", ns, "backend", "add", "-i", dev, "--vip", SVC, "--ip", ip,
                       "--mac", "02:00:00:00:00:0c")  # fmt: skip
            assert res.returncode == 2 and said in res.stderr, res.stderr
        finally:
            l4lb("--netns", ns, "detach", "-i", dev)
