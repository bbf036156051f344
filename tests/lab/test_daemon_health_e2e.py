"""The daemon's health checks in the lab, over real sockets: a backend whose
server stops, or that loses the VIP on its loopback, is drained within
interval x fall + timeout and comes back after rise; the drain is the
health checker's (an operator's stays); the metrics say so; kill -9 of the
daemon changes nothing."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from l4lb_tui import events
from l4lb_tui.abi import ServiceKey
from l4lb_tui.backend_edits import SetDrain
from l4lb_tui.balancer import Balancer
from l4lb_tui.console_daemon import DaemonView, DaemonWatch, Drift
from l4lb_tui.daemon.runner import PUBLISH_EVERY
from l4lb_tui.health.adapters.tunnel import ProbeTunnel
from l4lb_tui.lab import Lab, faults
from l4lb_tui.lab.labconfig import lab_config
from l4lb_tui.lab.names import PROBE_SADDR
from l4lb_tui.viewmodels.health_rows import health_cell
from tests.killed_reload import ROOT, kill_group

pytestmark = pytest.mark.kernel

INTERVAL, TIMEOUT, RISE, FALL = 0.3, 0.2, 2, 2
SLACK = 1.5  # scheduling on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def daemon(lab: Lab, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Balancer, int]]:
    port = free_port()
    cfg = tmp_path / "l4lb.toml"
    cfg.write_text(
        lab_config(
            lab, metrics=f"127.0.0.1:{port}", interval=INTERVAL, timeout=TIMEOUT, rise=RISE,
            fall=FALL,
        )
    )  # fmt: skip
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "daemon", "-c", str(cfg)],
        cwd=ROOT, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    try:
        # lab_config's two services (HTTP and UDP), 3 backends each.
        wait_for(lambda: bal.is_loaded() and len(up(port)) == 6, 15, "every backend up")
        yield proc, bal, port
    finally:
        stop(proc)
        for i in range(1, 4):
            faults.fix_backend(lab, i)
        bal.detach()
    assert not tunnel_rules(lab), "a stopped daemon leaves no probe tunnel"


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM as systemd stops it (the daemon closes its probe tunnel), the
    group killed only if it does not end."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_group(proc)


def up(port: int) -> set[tuple[str, str]]:
    """(service, backend) of every backend the metrics call up."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            data = b"".join(iter(lambda: s.recv(65536), b""))
    except OSError:
        return set()
    text = data.partition(b"\r\n\r\n")[2].decode()
    return {
        (s.labels["service"], s.labels["backend"])
        for fam in text_string_to_metric_families(text)
        if fam.name == "l4lb_backend_up"
        for s in fam.samples
        if s.value == 1
    }


def wait_for(ok: object, seconds: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if ok():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {seconds} s")


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

    wait_for(
        lambda: len(seen().health) == 6 and all(e.status == "up" for e in seen().health.values()),
        5,
        "every backend up in health.json",
    )
    now = seen()
    assert now.pid == proc.pid and now.config.endswith("l4lb.toml") and not now.stale
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
