"""The run: a balancer on a veth of this run, loaded, changed and polled at
each size, as a command and in this process."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from l4lb_bench import machine, processes, sandbox
from l4lb_bench.control.results import (
    ADAPTER,
    SADDR,
    SERVICE,
    ControlReport,
    Options,
    Overheads,
    SizeResult,
)
from l4lb_bench.control.timing import Call, Cost, TimedBpftool, measure
from l4lb_bench.errors import BenchError
from l4lb_bench.synthetic import synthetic
from l4lb_tui import abi, bpfsys, metrics
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.bpftool import BpfError, Bpftool
from l4lb_tui.console_backend import ConsoleError
from l4lb_tui.console_kernel import RealBackend
from l4lb_tui.destinations import Destination, format_csv, read_destinations
from l4lb_tui.netlink import Netlink, namespaces
from l4lb_tui.services import parse_service


def _cli(*args: str) -> Cost:
    """One `l4lb` command, end to end (process, imports, work)."""
    argv = [sys.executable, "-m", "l4lb_tui.cli", *args]
    _, cost = measure(lambda: processes.run(argv, timeout=120))
    return cost


def _verify_members(bal: Balancer, key: abi.ServiceKey, dests: Sequence[Destination]) -> list[str]:
    for svc in bal.state().services:
        if svc.key == key:
            got = {(b.ip, b.weight) for b in svc.backends}
            want = {(d.ip, d.weight) for d in dests}
            if got != want:
                return [f"{svc.key}: {len(got)} backends in the maps, {len(want)} loaded"]
            return []
    return [f"service {key} missing after the load"]


def run_size(size: int, dev: str, workdir: Path, polls: int) -> SizeResult:
    timed = TimedBpftool()
    bal = Balancer(dev, bpftool=timed, netlink=Netlink())
    key = parse_service(SERVICE)[0]
    dests = synthetic(size)
    csv = workdir / f"{size}.csv"
    csv.write_text(format_csv(dests))
    problems: list[str] = []
    bal.attach("driver", SADDR)
    try:
        cli_load, cli_change = _as_commands(bal, key, dests, csv, problems)
        bal.detach()
        bal.attach("driver", SADDR)
        mark = len(timed.calls)

        def load() -> None:
            bal.load([key], read_destinations(csv, capacity=abi.MAX_BACKENDS))

        _, load_cost = measure(load)
        problems += _verify_members(bal, key, dests)
        load_calls = timed.calls[mark:]
        mark = len(timed.calls)
        changed = dests[size // 2]
        _, change_cost = measure(lambda: bal.set_weight(key, changed.ip, 2))
        change_calls = timed.calls[mark:]
        want = [Destination(d.ip, d.mac, 2) if d is changed else d for d in dests]
        problems += _verify_members(bal, key, want)
        poll, sample, counters_only, poll_calls = _poll(bal, timed, polls, size, problems)
        return SizeResult(
            size,
            load=load_cost,
            change=change_cost,
            poll=poll,
            sample=sample,
            counters_only=counters_only,
            scrape=_scrape(bal, polls, size, problems),
            cli_load=cli_load,
            cli_change=cli_change,
            load_calls=load_calls,
            change_calls=change_calls,
            poll_calls=poll_calls,
            problems=problems,
        )
    except (BalancerError, BpfError, ConsoleError) as exc:
        raise BenchError(f"{size} destinations, {ADAPTER}: {exc}") from None
    finally:
        with contextlib.suppress(BalancerError, BpfError):
            bal.detach()


def _as_commands(
    bal: Balancer, key: abi.ServiceKey, dests: Sequence[Destination], csv: Path, problems: list[str]
) -> tuple[Cost, Cost]:
    """`l4lb map` and `l4lb backend weight` as processes, end to end; the
    balancer is fresh, so the command makes the first load."""
    dev = bal.ifname
    cli_load = _cli("map", "-i", dev, "-f", str(csv), "--vip", SERVICE)
    problems += _verify_members(bal, key, dests)
    cli_change = _cli(
        "backend",
        "weight",
        "-i",
        dev,
        "--vip",
        SERVICE,
        "--ip",
        dests[len(dests) // 2].ip,
        "--weight",
        "3",
    )
    return cli_load, cli_change


def _poll(
    bal: Balancer, timed: TimedBpftool, polls: int, size: int, problems: list[str]
) -> tuple[Cost, Cost, Cost, list[Call]]:
    """What `l4lb stats` and the console do each second, `polls` times: the
    medians of a poll, a console sample and the counters alone, and the calls
    of the first poll."""
    poll_costs, sample_costs, counter_costs = [], [], []
    poll_calls: list[Call] = []
    console = RealBackend(bpftool=timed, netlink=Netlink())
    mark = len(timed.calls)
    for i in range(polls):
        (_, state), cost = measure(lambda: (bal.counters(), bal.state()))
        poll_costs.append(cost)
        if i == 0:
            poll_calls = timed.calls[mark:]
            members = sum(len(s.backends) for s in state.services)
            if members != size:
                problems.append(f"a poll saw {members} backends, not {size}")
        counter_costs.append(measure(bal.counters)[1])
        sample, cost = measure(lambda: console.sample(bal.ifname))
        sample_costs.append(cost)
        if sample.state is None:
            problems.append("the console's sample found no balancer")
    medians = (Cost.median(poll_costs), Cost.median(sample_costs), Cost.median(counter_costs))
    return (*medians, poll_calls)


def _scrape(bal: Balancer, polls: int, size: int, problems: list[str]) -> Cost:
    """What a Prometheus scrape of the daemon costs: a fresh read of state
    and counters, and the text (median of `polls`)."""
    costs = []
    for _ in range(polls):
        text, cost = measure(
            lambda: metrics.render([metrics.BalancerSample(bal.state(), bal.counters())])
        )
        costs.append(cost)
    if text.count("l4lb_backend_packets_total{") != size:
        problems.append("a scrape did not name every backend")
    return Cost.median(costs)


def overheads(dev: str) -> Overheads:
    """The fixed costs the control plane pays per bpftool call, measured once
    on a balancer holding 4096 (all) backend counters."""
    bal = Balancer(dev, bpftool=Bpftool(), netlink=Netlink())
    bal.attach("driver", SADDR)
    try:
        # A command's help: its imports, not those of the lab and bench
        # groups, which the CLI loads only for them (and for the top help).
        python_cli = min((_cli("backend", "--help") for _ in range(3)), key=lambda c: c.wall)
        start = min(
            (measure(lambda: processes.run(["bpftool", "version"]))[1] for _ in range(5)),
            key=lambda c: c.wall,
        )
        pin = str(bal.map_pin("backend_stats"))
        argv = ["bpftool", "-j", "map", "dump", "pinned", pin]
        out, dump = measure(lambda: processes.run(argv).stdout)
        _, parse = measure(lambda: json.loads(out))
        _, sys_read = measure(lambda: bpfsys.read_array(bal.map_pin("backend_stats")))
        return Overheads(python_cli, start, dump, len(out), parse.cpu, sys_read)
    finally:
        with contextlib.suppress(BalancerError, BpfError):
            bal.detach()


def run_control(opts: Options, log: Callable[[str], None] = print) -> ControlReport:
    processes.need_root("l4lb bench control")
    sandbox.reap_stale()
    results: list[SizeResult] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(processes.terminate_cleanly())
        veth = stack.enter_context(sandbox.veth_namespace())
        stack.enter_context(namespaces.inside(veth.ns))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="l4lb-bench-")))
        for size in opts.sizes:
            if not 0 < size <= abi.MAX_BACKENDS:
                raise BenchError(f"size {size}: 1 to {abi.MAX_BACKENDS} destinations")
            log(f"  {size} destinations, {ADAPTER} adapter")
            results.append(run_size(size, veth.dev, workdir, opts.polls))
        log("  fixed costs")
        over = overheads(veth.dev)
    return ControlReport(opts, machine.host(), results, over)
