"""The daemon's health checks in the lab, over real sockets: a backend whose
server stops, or that loses the VIP on its loopback, is drained within
interval x fall + timeout and comes back after rise; the drain is the
health checker's (an operator's stays); the metrics say so; kill -9 of the
daemon changes nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui import events
from l4lb_tui.abi import ServiceKey
from l4lb_tui.backend_edits import SetDrain
from l4lb_tui.balancer import Balancer
from l4lb_tui.console_daemon import DaemonView, DaemonWatch, Drift
from l4lb_tui.daemon.runner import PUBLISH_EVERY
from l4lb_tui.health.adapters.tunnel import ProbeTunnel
from l4lb_tui.lab import Lab, faults
from l4lb_tui.lab.names import PROBE_SADDR
from l4lb_tui.viewmodels.health_rows import health_cell
from tests.killed_reload import ROOT, kill_group
from tests.lab.daemon_kit import (
    FALL,
    INTERVAL,
    RISE,
    SLACK,
    TIMEOUT,
    lab_daemon,
    stop,
    up,
    wait_for,
)

pytestmark = pytest.mark.kernel


@pytest.fixture
def daemon(lab: Lab, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Balancer, int]]:
    with lab_daemon(lab, tmp_path / "l4lb.toml") as running:
        yield running
    assert not tunnel_rules(lab), "a stopped daemon leaves no probe tunnel"


@pytest.mark.parametrize("how", ["server", "vip"])
def test_a_broken_backend_is_drained_and_restored(
    lab: Lab, daemon: tuple[subprocess.Popen[str], Balancer, int], how: str
) -> None:
    _, bal, port = daemon
    svc = ServiceKey(lab.vip, lab.http_port, 6)
    victim = lab.backend_nodes[0].addr
    faults.break_backend(lab, 1, how)
    down_in = wait_for(
        lambda: {d.ip for d in bal.members(svc) if d.down} == {victim},
        INTERVAL * FALL + TIMEOUT + SLACK + INTERVAL,
        f"{victim} drained after its {how} broke",
    )
    assert (str(svc), victim) not in up(port)
    assert not any(d.drained for d in bal.members(svc)), "the operator's bit was touched"
    faults.fix_backend(lab, 1)
    back_in = wait_for(
        lambda: not any(d.down for d in bal.members(svc)),
        INTERVAL * RISE + TIMEOUT + SLACK + INTERVAL,
        f"{victim} restored",
    )
    print(f"\nHEALTH {how}: drained after {down_in:.2f} s, restored after {back_in:.2f} s")


def test_kill_9_of_the_daemon_changes_nothing(
    lab: Lab, daemon: tuple[subprocess.Popen[str], Balancer, int]
) -> None:
    proc, bal, _ = daemon
    svc = ServiceKey(lab.vip, lab.http_port, 6)
    faults.break_backend(lab, 2, "server")
    wait_for(lambda: any(d.down for d in bal.members(svc)), 5, "a drain")
    before = bal.members(svc)
    kill_group(proc)
    faults.fix_backend(lab, 2)
    time.sleep(1)
    assert bal.members(svc) == before, "the data plane changed without its daemon"
    # The killed daemon's tunnel stays until the next prober opens its own.
    assert tunnel_rules(lab), "a killed daemon cannot have closed its tunnel"
    nxt = ProbeTunnel(lab.lb_ifname, PROBE_SADDR, netns=lab.lb_ns)
    nxt.open()
    nxt.close()
    assert not tunnel_rules(lab), "the next tunnel's open undid the killed one's"


def test_detach_undoes_a_killed_daemons_tunnel_and_keeps_a_live_ones(
    lab: Lab, daemon: tuple[subprocess.Popen[str], Balancer, int]
) -> None:
    proc, _, _ = daemon
    ns, dev = lab.lb_ns, lab.lb_ifname
    accept_local = f"/proc/sys/net/ipv4/conf/{dev}/accept_local"

    def l4lb(*args: str) -> str:
        argv = [sys.executable, "-m", "l4lb_tui.cli", "--netns", ns, *args]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)  # noqa: S603
        assert done.returncode == 0, done.stderr
        return done.stdout

    # A live daemon's tunnel is its own, whatever happens to the balancer.
    assert "probe tunnel" not in l4lb("detach", "-i", dev)
    assert tunnel_rules(lab)
    l4lb("attach", "-i", dev)
    kill_group(proc)
    assert tunnel_rules(lab) and _in(ns, ["cat", accept_local]) == "1"
    said = l4lb("detach", "-i", dev)
    assert f"undid the probe tunnel a killed daemon left in network namespace {ns}" in said
    assert not tunnel_rules(lab)
    assert _in(ns, ["cat", accept_local]) == "0", "accept_local as it was before the daemon"


def _in(ns: str, argv: list[str]) -> str:
    out = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True)  # noqa: S603
    return out.stdout.strip()


def tunnel_rules(lab: Lab) -> list[str]:
    out = subprocess.run(  # noqa: S603 - fixed argv
        ["ip", "-n", lab.lb_ns, "rule", "show"], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines() if "fwmark" in line]


def test_the_console_reads_the_daemons_health_and_config_drift(
    lab: Lab, daemon: tuple[subprocess.Popen[str], Balancer, int]
) -> None:
    """What the console's poll worker reads (DaemonWatch, as RealBackend
    does): the daemon's health.json, health events in the log, and whether
    the running balancer still matches the daemon's config file."""
    proc, bal, _ = daemon
    svc = ServiceKey(lab.vip, lab.http_port, 6)
    name, victim, other = str(svc), lab.backend_nodes[1].addr, lab.backend_nodes[0].addr
    watch = DaemonWatch(netns=lab.lb_ns)

    def seen() -> DaemonView:
        found = watch.view(lab.lb_ifname, bal, bal.state())
        assert found is not None, "no health.json from a running daemon"
        return found

    def all_up() -> bool:
        # This daemon's file, in one read: the fixture's wait (metrics, read
        # from the balancer) can end before its first write, while the file a
        # killed daemon of an earlier test left still says every backend up.
        view = seen()
        healthy = len(view.health) == 6 and all(e.status == "up" for e in view.health.values())
        return view.pid == proc.pid and healthy

    wait_for(all_up, 5, "every backend up in this daemon's health.json")
    now = seen()
    assert now.config.endswith("l4lb.toml") and not now.stale
    assert str(health_cell(now.health[(name, victim)])).startswith("up ")
    assert now.drift == Drift(), now.drift  # as configured

    faults.break_backend(lab, 2, "server")
    wait_for(
        lambda: seen().health[(name, victim)].status == "down",
        INTERVAL * FALL + TIMEOUT + SLACK + 2 * PUBLISH_EVERY,
        "the victim down in health.json",
    )
    down = seen().health[(name, victim)]
    assert not down.ok and down.result and down.since > 0
    assert str(health_cell(down)).startswith("down ")
    assert seen().drift == Drift(), "a health drain is not a difference from the config"
    said = [e.what for e in events.read() if e.who == "health"]
    assert any(victim in line and "down" in line for line in said), said

    bal.edit({svc: SetDrain(other, True)})  # an operator's drain: not in the file
    drift = seen().drift
    assert drift is not None and drift.drifted and any(other in ln for ln in drift.lines)
    bal.edit({svc: SetDrain(other, False)})
    assert seen().drift == Drift()

    faults.fix_backend(lab, 2)
    stop(proc)
    assert watch.view(lab.lb_ifname, bal, bal.state()) is None, "a stopped daemon's file stays"
