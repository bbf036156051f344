"""Health checks on the real lab: every fault caught by the probes that can see
it, in the time rise and fall allow, through the tunnel and without it, to
the backends' IPv4 and IPv6 addresses alike (IPIP and ip6ip6).

The prober runs where the daemon will, in the balancer's namespace beside
the attached balancer; the backends are the lab's, broken with `lab break`.
Real kernel, real sockets: run as root.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from lab_support import leftovers, namespace_inodes, require_root, unique_prefix

from l4lb_tui.config_model import HealthSpec
from l4lb_tui.health.adapters.tunnel import ProbeTunnel
from l4lb_tui.health.logic.board import HealthBoard
from l4lb_tui.health.logic.probes import build_probe
from l4lb_tui.health.model import CheckKey, Probe, ProbeResult, Status, Target
from l4lb_tui.health.scheduler import Scheduler
from l4lb_tui.lab import Lab, faults
from l4lb_tui.lab.names import PROBE_SADDR, PROBE_SADDR6

pytestmark = pytest.mark.kernel

KINDS = {"tcp": 8080, "http": 8080, "udp": 9000}
# Scheduling on a busy two-CPU machine: the 10 ms timer grid, a thread switch.
SLACK = 0.15


def l4lb(lab: Lab, *args: str) -> None:
    done = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "l4lb_tui.cli", "--netns", lab.lb_ns, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"l4lb {' '.join(args)}: {done.stderr.strip()}"


@pytest.fixture(scope="module")
def hlab() -> Iterator[Lab]:
    """A lab of its own (its backends get broken), with the balancer attached."""
    require_root()
    lab = Lab(prefix=unique_prefix(), backends=2)
    try:
        lab.up()
        l4lb(lab, "attach", "-i", lab.lb_ifname, "-s", lab.outer_saddr)
        l4lb(lab, "map", "-i", lab.lb_ifname, "-f", str(lab.csv_path),
             "--vip", f"{lab.vip}:9000/udp", "--vip", f"{lab.vip}:8080/tcp")  # fmt: skip
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def tunnel(hlab: Lab) -> Iterator[ProbeTunnel]:
    tunnel = ProbeTunnel(hlab.lb_ifname, PROBE_SADDR, source6=PROBE_SADDR6, netns=hlab.lb_ns)
    with tunnel as made:
        made.set_backends(a for node in hlab.backend_nodes for a in (node.addr, node.addr6))
        yield made


def probes(
    lab: Lab, tunnel: ProbeTunnel, spec: dict[str, float], kinds: dict[str, int] = KINDS
) -> list[Probe]:
    """Every kind through both targets, for every backend's address of
    either family; service = "kind/target"."""
    marks = tunnel.marks()
    made = []
    for kind, port in kinds.items():
        health = HealthSpec(check=kind, **spec)  # type: ignore[arg-type]
        for node in lab.backend_nodes:
            for addr, vip, source in (
                (node.addr, lab.vip, PROBE_SADDR),
                (node.addr6, lab.vip6, PROBE_SADDR6),
            ):
                for target in Target:
                    key = CheckKey(f"{kind}/{target}", addr)
                    made.append(
                        build_probe(key, health, vip, port, target,
                                    mark=marks[addr], source=source)
                    )  # fmt: skip
    return made


def run_for(lab: Lab, wanted: list[Probe], seconds: float) -> list[ProbeResult]:
    got: list[ProbeResult] = []
    with Scheduler(got.extend, netns=lab.lb_ns) as scheduler:
        scheduler.set_probes(wanted)
        time.sleep(seconds)
    return got


def last_verdicts(results: list[ProbeResult]) -> dict[tuple[str, str], ProbeResult]:
    return {(r.key.service, r.key.backend): r for r in results}


FAST = {"interval": 0.2, "timeout": 0.1}


def test_a_sound_lab_passes_every_kind_both_ways(hlab: Lab, tunnel: ProbeTunnel) -> None:
    before = tunnel.stats()["encapsulated"]
    seen = last_verdicts(run_for(hlab, probes(hlab, tunnel, FAST), 0.5))
    assert len(seen) == 3 * 2 * 2 * 2  # kinds, backends, targets, families
    assert {k: r.detail for k, r in seen.items() if not r.ok} == {}
    assert {r.detail for r in seen.values()} == {"connected", "HTTP 200", "replied"}
    assert tunnel.stats()["encapsulated"] > before


def test_clients_are_balanced_as_before_while_probes_run(hlab: Lab, tunnel: ProbeTunnel) -> None:
    got: list[ProbeResult] = []
    with Scheduler(got.extend, netns=hlab.lb_ns) as scheduler:
        scheduler.set_probes(probes(hlab, tunnel, FAST))
        report = hlab.traffic(count=30)
    assert report.udp.answered == report.http.answered == 30
    assert set(report.udp.by_backend) == {node.name for node in hlab.backend_nodes}
    assert got and all(r.ok for r in got)


# What each fault hides from which target: a stopped server from both; a VIP
# gone from the loopback, or decapsulation stopped, only from the tunnel.
CAUGHT_BY = {"server": {"address", "tunnel"}, "vip": {"tunnel"}, "decap": {"tunnel"}}


@pytest.mark.parametrize("how", sorted(CAUGHT_BY))
def test_each_fault_is_caught_by_the_targets_that_can_see_it(
    hlab: Lab, tunnel: ProbeTunnel, how: str
) -> None:
    broken, sound = hlab.backend_nodes
    faults.break_backend(hlab, 1, how)
    try:
        seen = last_verdicts(run_for(hlab, probes(hlab, tunnel, FAST), 0.5))
    finally:
        faults.fix_backend(hlab, 1)
    for (service, backend), result in seen.items():
        kind, target = service.split("/")
        failing = backend in (broken.addr, broken.addr6) and target in CAUGHT_BY[how]
        assert result.ok is not failing, f"{how}: {service} of {backend}: {result.detail}"
        if failing:
            # The backend rate-limits its ICMP port unreachables (per
            # destination: the prober), so a UDP probe may just see nothing.
            expected = {"refused", "no answer in 0.1 s"} if kind == "udp" else {"refused"}
            if how != "server":
                expected = {"no answer in 0.1 s"}
            assert result.detail in expected, (service, result.detail)
    assert {b for _, b in seen} == {broken.addr, sound.addr, broken.addr6, sound.addr6}
    seen = last_verdicts(run_for(hlab, probes(hlab, tunnel, FAST), 0.5))
    assert all(r.ok for r in seen.values()), "fixed"


def watch(lab: Lab, probe: Probe, rise: int, fall: int) -> tuple[Scheduler, HealthBoard, list]:
    """A scheduler feeding a board; the list collects (time, status) changes."""
    board = HealthBoard()
    board.set_checks({probe.key: (rise, fall)})
    changes: list[tuple[float, Status]] = []
    lock = threading.Lock()

    def deliver(results: tuple[ProbeResult, ...]) -> None:
        with lock:
            for change in board.apply(results):
                changes.append((time.monotonic(), change.after.status))

    scheduler = Scheduler(deliver, netns=lab.lb_ns)
    scheduler.set_probes([probe])
    return scheduler, board, changes


def wait_for(
    changes: list[tuple[float, Status]], status: Status, after: float, limit: float
) -> float:
    """When the status became `status`, first after `after`."""
    while time.monotonic() - after < limit:
        hits = [t for t, s in list(changes) if s is status and t >= after]
        if hits:
            return hits[0]
        time.sleep(0.005)
    raise AssertionError(f"not {status} within {limit:g} s: {changes}")


@pytest.mark.parametrize(("how", "kind"), [("server", "http"), ("vip", "tcp"), ("decap", "udp")])
def test_down_after_fall_and_up_after_rise_in_time(
    hlab: Lab, tunnel: ProbeTunnel, how: str, kind: str
) -> None:
    interval, timeout, rise, fall = 0.2, 0.1, 2, 3
    spec = HealthSpec(check=kind, interval=interval, timeout=timeout, rise=rise, fall=fall)
    node = hlab.backend_nodes[0]
    probe = build_probe(CheckKey("svc", node.addr), spec, hlab.vip, KINDS[kind], Target.TUNNEL,
                        mark=tunnel.marks()[node.addr], source=PROBE_SADDR)  # fmt: skip
    scheduler, board, changes = watch(hlab, probe, rise, fall)
    with scheduler:
        wait_for(changes, Status.UP, time.monotonic(), interval + timeout + SLACK)
        broken_at = time.monotonic()
        faults.break_backend(hlab, 1, how)
        try:
            down_at = wait_for(changes, Status.DOWN, broken_at, interval * fall + timeout + 1)
        finally:
            faults.fix_backend(hlab, 1)
            fixed_at = time.monotonic()
        up_at = wait_for(changes, Status.UP, fixed_at, interval * rise + timeout + 1)
    assert down_at - broken_at <= interval * fall + timeout + SLACK
    # From the moment `fix` returned: the server listens, the VIP is back.
    assert up_at - fixed_at <= interval * rise + timeout + SLACK
    assert board.health(probe.key).status is Status.UP
    falling = [s for _, s in changes]
    assert falling[:3] == [Status.UP, Status.FALLING, Status.DOWN], changes


def test_faults_are_idempotent_and_named(hlab: Lab) -> None:
    assert faults.break_backend(hlab, 2, "vip") == "be2: vip broken"
    assert faults.break_backend(hlab, 2, "vip") == "be2: vip already broken"
    assert faults.faults(hlab, hlab.backend_nodes[1]) == ["vip"]
    assert faults.fix_backend(hlab, 2) == "be2: vip fixed"
    assert faults.fix_backend(hlab, 2) == "be2: nothing broken"
    done = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "l4lb_tui.lab", "break", "--prefix", hlab.prefix,
         "--backend", "3", "--how", "decap"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "no backend 3: lab" in done.stderr


def test_lab_down_undoes_every_fault() -> None:
    require_root()
    lab = Lab(unique_prefix(), backends=1)
    try:
        lab.up()
        for how in faults.FAULTS:
            faults.break_backend(lab, 1, how)
        assert faults.faults(lab, lab.backend_nodes[0]) == list(faults.FAULTS)
        inodes = namespace_inodes(lab.prefix)
        lab.down()
        assert leftovers(lab.prefix, inodes) == []
    finally:
        lab.down()
