"""A drain of the health checker's that a change outside the daemon clears
(`backend remove` + `backend add`, a hand `map`) is put back: the daemon
compares the maps with its verdict, not only when the verdict changes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.daemon import health
from l4lb_tui.lab import Lab, faults
from tests.dataplane.test_daemon import l4lb
from tests.lab.daemon_kit import wait_for
from tests.lab.test_daemon_follows_e2e import DRAINED_IN, running

pytestmark = pytest.mark.kernel
__all__ = ["running"]  # the fixture
COMPARE_EVERY = getattr(health, "COMPARE_EVERY", 2.0)


def test_a_cleared_drain_is_drained_again(
    lab: Lab, running: tuple[subprocess.Popen[str], Path, int]
) -> None:
    proc, log, _ = running
    svc = ServiceKey(lab.vip, lab.http_port, 6)
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    victim = lab.backend_nodes[1].addr
    faults.break_backend(lab, 2, "server")
    wait_for(lambda: {d.ip for d in bal.members(svc) if d.down} == {victim}, DRAINED_IN, "drained")
    was = next(d for d in bal.members(svc) if d.ip == victim)
    where = ("--netns", lab.lb_ns, "backend")
    common = ("-i", lab.lb_ifname, "--vip", str(svc), "--ip", victim)
    assert l4lb(*where, "remove", *common).returncode == 0
    added = l4lb(*where, "add", *common, "--mac", was.mac, "--weight", str(was.weight))
    assert added.returncode == 0, added.stderr
    wait_for(
        lambda: {d.ip for d in bal.members(svc) if d.down} == {victim},
        DRAINED_IN + COMPARE_EVERY,
        f"{victim} drained again: {log.read_text()}",
    )
    assert f"drained {victim} again" in log.read_text()
    assert proc.poll() is None


def test_failing_open_restores_are_not_called_healthy(
    lab: Lab, running: tuple[subprocess.Popen[str], Path, int]
) -> None:
    _, log, _ = running
    svc = ServiceKey(lab.vip, lab.http_port, 6)
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    ips = [n.addr for n in lab.backend_nodes]
    for i in (1, 2):
        faults.break_backend(lab, i, "server")
        wait_for(
            lambda i=i: {d.ip for d in bal.members(svc) if d.down} == set(ips[:i]),
            DRAINED_IN,
            f"{ips[:i]} drained",
        )
    faults.break_backend(lab, 3, "server")
    wait_for(lambda: "restored" in log.read_text(), DRAINED_IN, f"fail open: {log.read_text()}")
    said = log.read_text()
    assert "FAILING OPEN" in said
    assert f"restored {ips[0]}, {ips[1]} (failing open)" in said, said
    assert "(healthy again)" not in said


def test_a_left_out_backend_is_not_called_drained(
    lab: Lab, running: tuple[subprocess.Popen[str], Path, int], tmp_path: Path
) -> None:
    proc, log, _ = running
    cfg = tmp_path / "l4lb.toml"
    ghost = '  { ip = "10.0.0.99", mac = "neighbour" },\n'
    cfg.write_text(cfg.read_text().replace("backends = [\n", "backends = [\n" + ghost, 1))
    res = l4lb("reload")
    assert res.returncode == 1 and "10.0.0.99: LEFT OUT" in res.stderr, res.stdout + res.stderr
    wait_for(lambda: "10.0.0.99: unhealthy, not loaded" in log.read_text(), DRAINED_IN, "said")
    assert "drained 10.0.0.99" not in log.read_text()
    assert proc.poll() is None
