"""Ctrl-C and SIGTERM during a reload: the reload is finished first, then
the command stops (the README's "Changing backends under traffic")."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination, format_csv
from tests.conftest import veth_netns
from tests.killed_reload import paused_reload, wait_paused

pytestmark = pytest.mark.kernel

SVC = ServiceKey("10.0.0.4", 8080, 6)
OLD = [Destination(f"10.2.0.{i}", "02:00:00:02:00:01") for i in range(1, 5)]
NEW = [Destination(f"10.3.0.{i}", "02:00:00:03:00:01") for i in range(1, 41)]


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[tuple[Balancer, Path]]:
    with veth_netns("l4i") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver")
        bal.load([SVC], OLD)
        csv = tmp_path / "new.csv"
        csv.write_text(format_csv(NEW))
        try:
            yield bal, csv
        finally:
            bal.detach()


@pytest.mark.parametrize(
    ("sig", "to_group", "status"),
    [
        (signal.SIGINT, True, 130),  # Ctrl-C: the terminal signals the foreground group
        (signal.SIGTERM, False, -signal.SIGTERM),  # kill PID, as a stop request
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_an_interrupted_reload_is_finished_first(
    bed: tuple[Balancer, Path], tmp_path: Path, sig: int, to_group: bool, status: int
) -> None:
    bal, csv = bed
    args = ["--netns", bal.netlink.netns or "", "map", "-i", bal.ifname, "-f", str(csv)]
    proc, paused = paused_reload([*args, "--vip", "10.0.0.4:8080/tcp"], 0.3, tmp_path, resume=1.0)
    cut = wait_paused(proc, paused)
    assert cut is not None and cut.ran < cut.lines
    if to_group:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    proc.wait(timeout=30)
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == status, err
    assert "finishing the reload before stopping" in err
    assert "Traceback" not in err
    assert {d.ip for d in bal.members(SVC)} == {d.ip for d in NEW}
