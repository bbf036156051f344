"""The run: two namespaces joined by a veth, one server process for every
backend, and the scheduler probing them from this process, round by round."""

from __future__ import annotations

import ipaddress
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from l4lb_bench import processes
from l4lb_bench.errors import BenchError
from l4lb_bench.health.report import format_report
from l4lb_bench.health.results import Phase
from l4lb_tui import procfs
from l4lb_tui.config_model import HealthSpec
from l4lb_tui.health.logic.board import HealthBoard
from l4lb_tui.health.logic.probes import build_probe
from l4lb_tui.health.model import CheckKey, ProbeResult, Target
from l4lb_tui.health.scheduler import Scheduler

ROUNDS = 3
PORT = 7000
NET = ipaddress.IPv4Network("10.200.0.0/16")
LINK = ("10.201.0.1", "10.201.0.2")


def run_health(
    backends: int, seconds: float, quick: bool, log: Callable[[str], None], check: str = "tcp"
) -> int:
    """Run the benchmark and print its report; the exit status."""
    phases = _measure(backends, seconds, quick, check, log)
    print(format_report(phases), flush=True)
    return 0 if all(p.verified for p in phases) else 1


# The run


def _measure(
    backends: int, seconds: float, quick: bool, check: str, log: Callable[[str], None]
) -> list[Phase]:
    if os.geteuid() != 0:
        raise BenchError("needs root (network namespaces)")
    if not 1 <= backends <= NET.num_addresses - 2:
        raise BenchError(f"--backends: 1-{NET.num_addresses - 2}")
    _remove_orphans()
    prober_cpu, listener_cpu = _cpus()
    names = _Names(os.getpid())
    listener: subprocess.Popen[str] | None = None
    try:
        _build(names, backends)
        listener = _start_listener(names, listener_cpu)
        phases = []
        rounds = 1 if quick else ROUNDS
        plans: list[tuple[str, int | None]] = [
            (f"backends' packets on another CPU (RPS), round {i + 1} of {rounds}", listener_cpu)
            for i in range(rounds)
        ]
        if not quick and check == "tcp":
            plans.append(("everything on the prober's CPU (upper bound)", None))
        for name, steer in plans:
            _steer(names, steer)
            log(f"health: {check}, {name}: {backends} backends, {seconds:g} s")
            phase = _phase(name, check, names, backends, seconds, prober_cpu)
            phase.steered = steer is not None
            phases.append(phase)
        return phases
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        _remove(names)


def _phase(name: str, check: str, names: _Names, backends: int, seconds: float, cpu: int) -> Phase:
    phase = Phase(name, check, backends)
    spec = HealthSpec(check=check, interval=1.0, timeout=0.5, body="ok", expect="ping")
    hosts = NET.hosts()
    probes = [
        build_probe(CheckKey("bench", str(next(hosts))), spec, "10.200.0.0", PORT, Target.ADDRESS)
        for _ in range(backends)
    ]
    board = HealthBoard()
    board.set_checks({p.key: (spec.rise, spec.fall) for p in probes})
    measuring = threading.Event()
    batches: list[tuple[ProbeResult, ...]] = []

    def deliver(results: tuple[ProbeResult, ...]) -> None:
        board.apply(results)  # what the daemon does with them
        if measuring.is_set():
            batches.append(results)  # counted after the measured seconds

    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})  # the scheduler's thread inherits it
    try:
        with Scheduler(deliver, netns=names.prober) as scheduler:
            scheduler.set_probes(probes)
            # Warm-up: the first interval opens every socket and spreads the starts.
            time.sleep(spec.interval + 0.5)
            before, cpu_before = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
            began = time.monotonic()
            measuring.set()
            time.sleep(seconds)
            measuring.clear()
            after, cpu_after = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
            ended = time.monotonic()
    except OSError as exc:
        raise BenchError(f"scheduler: {exc}") from exc
    finally:
        os.sched_setaffinity(0, allowed)
    for result in (r for batch in batches for r in batch):
        if result.ok:
            phase.ok += 1
            phase.latencies.append(result.latency)
        else:
            phase.failed += 1
            phase.details[result.detail] = phase.details.get(result.detail, 0) + 1
    phase.load = os.getloadavg()[0]
    phase.seconds = ended - began
    phase.cpu = cpu_after - cpu_before
    phase.user = after.ru_utime - before.ru_utime
    phase.system = after.ru_stime - before.ru_stime
    return phase


# Namespaces, listener, steering


@dataclass(frozen=True)
class _Names:
    pid: int

    @property
    def prober(self) -> str:
        return f"l4hb{self.pid}-p"

    @property
    def servers(self) -> str:
        return f"l4hb{self.pid}-s"

    @property
    def prober_link(self) -> str:
        return f"l4hb{self.pid}p"

    @property
    def servers_link(self) -> str:
        return f"l4hb{self.pid}s"


def _build(names: _Names, backends: int) -> None:
    prefix = 32 - (backends + 1).bit_length()
    p, s = names.prober, names.servers
    for argv in (
        ["ip", "netns", "add", p],
        ["ip", "netns", "add", s],
        ["ip", "-n", p, "link", "add", names.prober_link, "type", "veth",
         "peer", "name", names.servers_link, "netns", s],
        ["ip", "-n", p, "address", "add", f"{LINK[0]}/30", "dev", names.prober_link],
        ["ip", "-n", s, "address", "add", f"{LINK[1]}/30", "dev", names.servers_link],
        ["ip", "-n", p, "link", "set", names.prober_link, "up"],
        ["ip", "-n", s, "link", "set", names.servers_link, "up"],
        ["ip", "-n", p, "link", "set", "lo", "up"],
        ["ip", "-n", s, "link", "set", "lo", "up"],
        # One address on lo makes its whole prefix local: thousands of backends.
        ["ip", "-n", s, "address", "add", f"{NET.network_address}/{prefix}", "dev", "lo"],
        ["ip", "-n", p, "route", "add", f"{NET.network_address}/{prefix}", "via", LINK[1]],
    ):  # fmt: skip
        _run(argv)


def _start_listener(names: _Names, cpu: int) -> subprocess.Popen[str]:
    def child() -> None:
        # The listener dies with the benchmark, however the benchmark dies.
        processes.die_with_parent()
        os.sched_setaffinity(0, {cpu})

    argv = ["ip", "netns", "exec", names.servers,
            sys.executable, "-m", "l4lb_bench.health.server", str(PORT)]  # fmt: skip
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=child
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        _, err = proc.communicate()
        raise BenchError(f"listener: {err.strip() or 'did not start'}")
    return proc


def _steer(names: _Names, cpu: int | None) -> None:
    """The backends' receive processing on `cpu` (RPS), or inline (None)."""
    mask = f"{1 << cpu:x}" if cpu is not None else "0"
    path = f"/sys/class/net/{names.servers_link}/queues/rx-0/rps_cpus"
    script = f"echo {mask} > {path}"
    _run(["ip", "netns", "exec", names.servers, "sh", "-c", script])


def _cpus() -> tuple[int, int]:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise BenchError("needs two CPUs (prober and backends apart)")
    return cpus[-1], cpus[-2]


def _remove(names: _Names) -> None:
    for ns in (names.prober, names.servers):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)  # noqa: S603


def _remove_orphans() -> None:
    """Namespaces of a run killed outright (its pid is gone)."""
    netns_dir = "/run/netns"
    for name in os.listdir(netns_dir) if os.path.isdir(netns_dir) else []:
        pid, _, side = name.removeprefix("l4hb").partition("-")
        ours = name.startswith("l4hb") and pid.isdigit() and side in ("p", "s")
        if ours and not procfs.alive(int(pid)):
            _remove(_Names(int(pid)))


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv[:4])}: {done.stderr.strip()}")
