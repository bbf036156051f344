"""The daemon owns its health drains and removals, in the lab over real
sockets: a restart or a reload reconciles the down bits it finds; remove
mode touches only what it removed (an operator's drain and removal stay, a
reload does not add back a dead backend); a verdict that meets the lock is
carried out once the lock is free; the quorum counts only backends that
would serve; address probes never go from the VIP; the same service on two
balancers is two services; every decision is in the event log."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from l4lb_tui import events
from l4lb_tui.abi import ServiceKey
from l4lb_tui.backend_edits import Add, Remove, SetDrain
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination, read_destinations
from l4lb_tui.lab import Lab, faults
from l4lb_tui.lab.names import PROBE_SADDR
from l4lb_tui.lock import interface_lock
from tests.conftest import veth_netns
from tests.killed_reload import ROOT, kill_group
from tests.lab.daemon_kit import FALL, INTERVAL, RISE, TIMEOUT, free_port, wait_for

pytestmark = pytest.mark.kernel

SOON = 10.0  # seconds: generous, on a busy 2-core machine


def balancer_toml(lab: Lab, health: str = "", probe_source: bool = True) -> str:
    backends = "".join(
        f'  {{ ip = "{d.ip}", mac = "{d.mac}" }},\n' for d in read_destinations(lab.csv_path)
    )
    probe = f'probe_source = "{PROBE_SADDR}"\n' if probe_source else ""
    text = (
        f'[[balancer]]\ninterface = "{lab.lb_ifname}"\nnetns = "{lab.lb_ns}"\n'
        f'source = "{lab.outer_saddr}"\n{probe}\n'
        f'[[balancer.service]]\nvip = "{lab.vip}:{lab.http_port}/tcp"\nbackends = [\n{backends}]\n'
    )
    if health is not None and health != "none":
        text += (
            f'[balancer.service.health]\ncheck = "http"\ninterval = {INTERVAL}\n'
            f"timeout = {TIMEOUT}\nrise = {RISE}\nfall = {FALL}\n{health}\n"
        )
    return text


class Daemon:
    def __init__(self, cfg: Path, port: int) -> None:
        self.cfg, self.port = cfg, port
        self.log = cfg.with_suffix(".log")
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        # The log is appended to: a restart waits for its own line.
        said = self.journal().count("serving metrics")
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "l4lb_tui.cli", "daemon", "-c", str(self.cfg)],
                cwd=ROOT, stderr=log, text=True, start_new_session=True,
            )  # fmt: skip
        wait_for(lambda: self.journal().count("serving metrics") > said, SOON, "the daemon serving")

    def journal(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def reload(self, text: str) -> None:
        assert self.proc is not None
        said = self.journal().count("reload")
        self.cfg.write_text(text)
        self.proc.send_signal(1)  # SIGHUP
        wait_for(lambda: self.journal().count("reload") > said, SOON, "a reload")
        time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_group(self.proc)

    def metric(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            data = b"".join(iter(lambda: s.recv(65536), b""))
        text = data.partition(b"\r\n\r\n")[2].decode()
        return {
            tuple(sorted(smp.labels.items())): smp.value
            for fam in text_string_to_metric_families(text)
            for smp in fam.samples
            if smp.name == name
        }


def stays(ok: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert ok(), what
        time.sleep(0.1)


@pytest.fixture
def run(lab: Lab, tmp_path: Path) -> Iterator[tuple[Daemon, Balancer, ServiceKey]]:
    cfg = tmp_path / "l4lb.toml"
    cfg.write_text(balancer_toml(lab) + f'[metrics]\nlisten = "127.0.0.1:{free_port()}"\n')
    daemon = Daemon(cfg, int(cfg.read_text().rsplit(":", 1)[1].strip('"\n')))
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    try:
        yield daemon, bal, ServiceKey(lab.vip, lab.http_port, 6)
    finally:
        daemon.stop()
        for i in range(1, 4):
            faults.fix_backend(lab, i)
        if bal.is_loaded():
            bal.detach()


def with_metrics(daemon: Daemon, text: str) -> str:
    return text + f'[metrics]\nlisten = "127.0.0.1:{daemon.port}"\n'


def down(bal: Balancer, svc: ServiceKey) -> set[str]:
    return {d.ip for d in bal.members(svc) if d.down}


def present(bal: Balancer, svc: ServiceKey) -> set[str]:
    return {d.ip for d in bal.members(svc)}


def l4lb(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "--netns", lab.lb_ns, *args],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_a_restart_undoes_a_drain_the_daemon_before_it_made(
    lab: Lab, run: tuple[Daemon, Balancer, ServiceKey]
) -> None:
    daemon, bal, svc = run
    victim = lab.backend_nodes[1].addr
    daemon.start()
    faults.break_backend(lab, 2, "server")
    wait_for(lambda: down(bal, svc) == {victim}, SOON, "the victim drained")

    # The backend is the health checker's: an undrain says so and changes nothing.
    res = l4lb(lab, "backend", "undrain", "-i", lab.lb_ifname, "--vip",
               f"{lab.vip}:{lab.http_port}/tcp", "--ip", victim)  # fmt: skip
    assert res.returncode == 2 and "health checker" in res.stderr, res
    assert len(res.stderr.strip().splitlines()) == 1
    # Drained by an operator too: the undrain undoes that part and says what stays.
    bal.edit({svc: SetDrain(victim, True)})
    res = l4lb(lab, "backend", "undrain", "-i", lab.lb_ifname, "--vip",
               f"{lab.vip}:{lab.http_port}/tcp", "--ip", victim)  # fmt: skip
    assert res.returncode == 0 and "still down" in res.stdout, res
    assert down(bal, svc) == {victim} and not any(d.drained for d in bal.members(svc))

    assert daemon.proc is not None
    kill_group(daemon.proc)
    faults.fix_backend(lab, 2)
    daemon.start()
    wait_for(lambda: not down(bal, svc), SOON, "the fixed backend restored by the new daemon")

    # A reload that drops the check: what it drained is no one's any more.
    faults.break_backend(lab, 2, "server")
    wait_for(lambda: down(bal, svc) == {victim}, SOON, "the victim drained again")
    daemon.reload(with_metrics(daemon, balancer_toml(lab, health="none")))
    wait_for(lambda: not down(bal, svc), SOON, "no check, no health drain")
    said = [e for e in events.read() if e.who == "health" and "drained" in e.what]
    assert any(victim in e.what and e.interface == lab.lb_ifname for e in said), said


def test_remove_mode_touches_only_what_it_removed(
    lab: Lab, run: tuple[Daemon, Balancer, ServiceKey]
) -> None:
    daemon, bal, svc = run
    one, two, three = (n.addr for n in lab.backend_nodes)
    removing = with_metrics(daemon, balancer_toml(lab, 'on_failure = "remove"'))
    daemon.cfg.write_text(removing)
    daemon.start()
    wait_for(lambda: "up" in daemon.journal(), SOON, "checks running")
    time.sleep(INTERVAL * (RISE + 1))

    bal.edit({svc: SetDrain(one, True)})  # the operator's
    faults.break_backend(lab, 2, "server")
    wait_for(lambda: present(bal, svc) == {one, three}, SOON, "the dead backend removed")
    daemon.reload(removing)
    stays(lambda: present(bal, svc) == {one, three}, 2, "a reload added the dead backend back")
    faults.fix_backend(lab, 2)
    wait_for(lambda: present(bal, svc) == {one, two, three}, SOON, "the backend back")
    assert {d.ip for d in bal.members(svc) if d.drained} == {one}, "the operator's drain lost"

    bal.edit({svc: SetDrain(one, False)})
    bal.edit({svc: Remove(three)})  # the operator's
    faults.break_backend(lab, 2, "server")
    wait_for(lambda: two not in present(bal, svc), SOON, "the dead backend removed again")
    stays(lambda: present(bal, svc) == {one}, 1.5, "the operator's removal undone")

    # Remove mode switched to drain: the dead backend comes back drained, not serving.
    daemon.reload(with_metrics(daemon, balancer_toml(lab)))
    assert present(bal, svc) == {one, two, three} and down(bal, svc) == {two}


def test_remove_mode_remembers_what_it_removed_across_a_restart(
    lab: Lab, run: tuple[Daemon, Balancer, ServiceKey]
) -> None:
    """A restarted daemon added back the dead backend its last run removed
    (it knew nothing of it); now the removal stays the checker's, and the
    backend comes back, as it was, when it recovers."""
    daemon, bal, svc = run
    one, two, three = (n.addr for n in lab.backend_nodes)
    daemon.cfg.write_text(with_metrics(daemon, balancer_toml(lab, 'on_failure = "remove"')))
    daemon.start()
    wait_for(lambda: "up" in daemon.journal(), SOON, "checks running")
    bal.edit({svc: SetDrain(two, True)})  # the operator's, kept through it all
    faults.break_backend(lab, 2, "server")
    wait_for(lambda: present(bal, svc) == {one, three}, SOON, "the dead backend removed")

    daemon.stop()
    daemon.start()
    stays(lambda: present(bal, svc) == {one, three}, 2, "the restart added the dead backend back")
    faults.fix_backend(lab, 2)
    wait_for(lambda: present(bal, svc) == {one, two, three}, SOON, "the backend restored")
    assert {d.ip for d in bal.members(svc) if d.drained} == {two}, "restored not as it was"


def test_a_removed_backend_added_back_while_no_daemon_ran_is_not_removed(
    lab: Lab, run: tuple[Daemon, Balancer, ServiceKey]
) -> None:
    """What the last run removed, added back by an operator while no daemon
    ran, is serving: a start must not take it out again."""
    daemon, bal, svc = run
    one, two, three = (n.addr for n in lab.backend_nodes)
    daemon.cfg.write_text(with_metrics(daemon, balancer_toml(lab, 'on_failure = "remove"')))
    daemon.start()
    wait_for(lambda: "up" in daemon.journal(), SOON, "checks running")
    faults.break_backend(lab, 2, "server")
    wait_for(lambda: present(bal, svc) == {one, three}, SOON, "the dead backend removed")
    daemon.stop()
    faults.fix_backend(lab, 2)
    mac = next(d.mac for d in read_destinations(lab.csv_path) if d.ip == two)
    bal.edit({svc: Add(Destination(two, mac))})  # the operator's
    daemon.start()
    stays(lambda: present(bal, svc) == {one, two, three}, 2, "the start removed it again")


def test_a_verdict_that_meets_the_lock_is_carried_out_later(
    lab: Lab, run: tuple[Daemon, Balancer, ServiceKey]
) -> None:
    daemon, bal, svc = run
    victim = lab.backend_nodes[2].addr
    daemon.start()
    time.sleep(INTERVAL * (RISE + 1))
    with interface_lock(bal.pin_dir.name):
        faults.break_backend(lab, 3, "server")
        wait_for(lambda: "could not carry out" in daemon.journal(), SOON, "the lock met")
    wait_for(lambda: down(bal, svc) == {victim}, SOON, "the verdict carried out after the lock")


def test_the_quorum_counts_only_backends_that_would_serve(
    lab: Lab, run: tuple[Daemon, Balancer, ServiceKey]
) -> None:
    daemon, bal, svc = run
    one, two, _ = (n.addr for n in lab.backend_nodes)
    daemon.start()
    time.sleep(INTERVAL * (RISE + 1))
    bal.edit({svc: SetDrain(one, True)})
    bal.edit({svc: SetDrain(two, True)})
    faults.break_backend(lab, 3, "vip")
    wait_for(lambda: "FAILING OPEN" in daemon.journal(), SOON, "a loud fail-open")
    stays(lambda: not down(bal, svc), 1.5, "the last backend that serves drained")
    assert any("FAILING OPEN" in e.what and e.interface == lab.lb_ifname for e in events.read()), (
        "the fail-open is not in the event log"
    )
    bal.edit({svc: SetDrain(one, False)})
    bal.edit({svc: SetDrain(two, False)})


def test_without_probe_source_address_probes_are_not_sent_from_the_vip(
    lab: Lab, run: tuple[Daemon, Balancer, ServiceKey]
) -> None:
    daemon, bal, svc = run
    daemon.start()
    time.sleep(INTERVAL * (RISE + 1))
    daemon.reload(with_metrics(daemon, balancer_toml(lab, probe_source=False)))
    stays(lambda: not down(bal, svc), INTERVAL * (FALL + 3), "healthy backends drained")
    healthy = daemon.metric("l4lb_service_backends_healthy")
    assert list(healthy.values()) == [3.0], healthy
    journal = daemon.journal()
    assert "through the probe tunnel" in journal
    assert "backends' own addresses (no probe_source" in journal
    out = subprocess.run(  # noqa: S603 - fixed argv
        ["ip", "-n", lab.lb_ns, "rule", "show"], capture_output=True, text=True, check=True
    ).stdout
    assert "fwmark" not in out, "the tunnel no one needs stayed open"


def test_the_same_service_on_two_balancers_is_two_services(
    lab: Lab, run: tuple[Daemon, Balancer, ServiceKey]
) -> None:
    daemon, bal, svc = run
    victim = lab.backend_nodes[1].addr
    with veth_netns("h15a") as (ns, dev, _):
        other = balancer_toml(lab).replace(lab.lb_ifname, dev).replace(lab.lb_ns, ns)
        other = other.replace(f'probe_source = "{PROBE_SADDR}"\n', "")
        daemon.cfg.write_text(with_metrics(daemon, balancer_toml(lab) + other))
        try:
            daemon.start()
            faults.break_backend(lab, 2, "server")
            wait_for(lambda: down(bal, svc) == {victim}, SOON, "the victim drained")
            stays(lambda: down(bal, svc) == {victim}, 1.5, "the drain flapped")
            healthy = daemon.metric("l4lb_service_backends_healthy")
            by_if = {dict(k)["interface"]: v for k, v in healthy.items()}
            assert by_if == {lab.lb_ifname: 2.0, dev: 0.0}, healthy
            hist = daemon.metric("l4lb_health_check_duration_seconds_count")
            assert {dict(k)["interface"] for k in hist} == {lab.lb_ifname, dev}
        finally:
            daemon.stop()
            subprocess.run(  # noqa: S603
                [sys.executable, "-m", "l4lb_tui.cli", "--netns", ns, "detach", "-i", dev],
                cwd=ROOT, capture_output=True, check=False, timeout=60,
            )  # fmt: skip
