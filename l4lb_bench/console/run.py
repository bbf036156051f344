"""The run: a balancer with many destinations under traffic, the console
watching it headless and in tmux."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from l4lb_bench import machine, processes, sandbox
from l4lb_bench.console.headless import pilot_floor, run_headless
from l4lb_bench.console.results import (
    CLIENT,
    SERVICE,
    TRAFFIC_INTERVAL_US,
    ConsoleReport,
    Options,
    Run,
)
from l4lb_bench.console.tmux import run_in_tmux, tmux_floor
from l4lb_bench.errors import BenchError
from l4lb_bench.synthetic import synthetic
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.bpftool import BpfError
from l4lb_tui.netlink import Netlink, build, namespaces
from l4lb_tui.services import parse_service


def console_available() -> str | None:
    """None if the console can be benchmarked, else why not."""
    try:
        import l4lb_tui.app
        import l4lb_tui.console_kernel  # noqa: F401
    except ImportError as exc:
        return f"the console is not built yet ({exc})"
    return None


@contextlib.contextmanager
def _traffic(pair: sandbox.VethPair, dev_mac: str) -> Iterator[subprocess.Popen[str]]:
    """Random-source UDP to the service from the peer's namespace."""
    vip = parse_service(SERVICE)[0]
    with build.editing(pair.peer_ns) as links:
        links.add_address(pair.peer, CLIENT, 24)
        links.set_neighbour(pair.peer, vip.vip, dev_mac)
    argv = [
        "ip",
        "netns",
        "exec",
        pair.peer_ns,
        "hping3",
        vip.vip,
        "-I",
        pair.peer,
        "-q",
        "-2",
        "--rand-source",
        "-p",
        str(vip.port),
        "-i",
        f"u{TRAFFIC_INTERVAL_US}",
    ]
    proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=processes.die_with_parent,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait()


def run_console(opts: Options, log: Callable[[str], None] = print) -> ConsoleReport:
    processes.need_root("l4lb bench console")
    why = console_available()
    if why:
        return ConsoleReport(opts, machine.host(), [], 0.0, [why])
    if shutil.which("hping3") is None:
        raise BenchError("hping3 not found: install it (apt-get install hping3)")
    sandbox.reap_stale()
    runs: list[Run] = []
    skipped: list[str] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(processes.terminate_cleanly())
        pair = stack.enter_context(sandbox.veth_namespace(split=True))
        stack.enter_context(namespaces.inside(pair.ns))
        bal = Balancer(pair.dev, netlink=Netlink())
        try:
            bal.attach("driver", "10.0.0.1")
            bal.load(parse_service(SERVICE), synthetic(opts.destinations))
            mac = bal.link().mac
        except (BalancerError, BpfError) as exc:
            raise BenchError(f"balancer: {exc}") from None
        stack.callback(_quiet_detach, bal)
        stack.enter_context(_traffic(pair, mac))
        c0 = bal.counters()
        log(f"  headless console, {opts.seconds:g} s")
        runs.append(run_headless(pair.dev, opts))
        floor = pilot_floor(opts.presses) if opts.presses else []
        tmux_base: list[float] = []
        if not opts.tmux:
            skipped.append("tmux run skipped (--no-tmux)")
        elif shutil.which("tmux") is None:
            skipped.append("tmux run skipped: tmux is not installed")
        else:
            log(f"  console in tmux, {opts.seconds:g} s")
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="l4lb-bench-")))
            runs.append(run_in_tmux(pair.ns, pair.dev, opts, workdir))
            tmux_base = tmux_floor(opts.presses) if opts.presses else []
        c1 = bal.counters()
        moved = sum(p for p, _ in c1.backends.values()) - sum(p for p, _ in c0.backends.values())
        pps = moved / (c1.taken_at - c0.taken_at)
        if moved == 0:
            for r in runs:
                r.problems.append("no traffic reached the balancer")
        return ConsoleReport(opts, machine.host(), runs, pps, skipped, floor, tmux_base)
    raise AssertionError("unreachable")  # pragma: no cover


def _quiet_detach(bal: Balancer) -> None:
    with contextlib.suppress(BalancerError, BpfError):
        bal.detach()
