"""`l4lb bench control`: what the control plane costs at 32, 512 and 4096 destinations.

For each size, on a balancer in a namespace of this run:
  * load a destinations CSV: end to end (the `l4lb map` command, a process)
    and in-process (read + Balancer.load), with where the time goes;
  * change one backend (`l4lb backend weight`, Balancer.set_weight);
  * one stats poll: what `l4lb stats` does each second (counters + state on
    one Balancer) and what the console does (RealBackend.sample), wall time
    and CPU of this process and its children (bpftool).
Every bpftool process is timed on its own, so the report says what the
adapter costs beside the rest.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from l4lb_bench import defaults, sandbox
from l4lb_bench.chart import table
from l4lb_bench.errors import BenchError
from l4lb_tui import bpfsys
from l4lb_tui import layout as L
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.bpf import BpfError, Bpftool
from l4lb_tui.console import ConsoleError, RealBackend
from l4lb_tui.destinations import Destination, format_csv, read_destinations
from l4lb_tui.netlink import Netlink
from l4lb_tui.services import parse_service

SERVICE = "10.0.0.4:8080/tcp"
SADDR = "10.0.0.1"
ADAPTER = "bpftool"  # the product's one adapter for map writes, as the report names it

# Targets of issue 6, for the largest size.
TARGET_LOAD = 0.5
TARGET_CHANGE = 0.050
TARGET_POLL_CPU = 0.050

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Options:
    sizes: tuple[int, ...] = defaults.CONTROL_SIZES
    polls: int = defaults.CONTROL_POLLS


@dataclass(frozen=True, slots=True)
class Cost:
    wall: float  # seconds
    cpu: float  # seconds: this process and the children it waited for

    @staticmethod
    def median(costs: Sequence[Cost]) -> Cost:
        return Cost(
            statistics.median(c.wall for c in costs), statistics.median(c.cpu for c in costs)
        )


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(func: Callable[[], T]) -> tuple[T, Cost]:
    cpu0, wall0 = _cpu(), time.perf_counter()
    out = func()
    return out, Cost(time.perf_counter() - wall0, _cpu() - cpu0)


@dataclass(slots=True)
class Call:
    what: str
    wall: float
    bpftool_cpu: float  # the bpftool process
    parse_cpu: float  # this process while it ran (mostly decoding its JSON)


class TimedBpftool(Bpftool):
    """The product's adapter, recording what each bpftool process cost."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []

    def call(
        self,
        args: Sequence[str],
        stdin: str | None = None,
        json_output: bool = True,
        own_session: bool = False,
    ) -> str:
        k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        s0 = resource.getrusage(resource.RUSAGE_SELF)
        w0 = time.perf_counter()
        try:
            return super().call(args, stdin, json_output, own_session)
        finally:
            wall = time.perf_counter() - w0
            k1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            s1 = resource.getrusage(resource.RUSAGE_SELF)
            self.calls.append(
                Call(
                    _label(args, stdin),
                    wall,
                    k1.ru_utime + k1.ru_stime - k0.ru_utime - k0.ru_stime,
                    s1.ru_utime + s1.ru_stime - s0.ru_utime - s0.ru_stime,
                )
            )


def _label(args: Sequence[str], stdin: str | None) -> str:
    if list(args[:2]) == ["map", "dump"]:
        return f"map dump {Path(args[3]).name}"
    if list(args[:2]) == ["map", "show"]:
        return "map show (layout check)"
    if list(args[:2]) == ["batch", "file"]:
        return "batch"
    return " ".join(args[:2])


def summarize(calls: Sequence[Call]) -> list[tuple[str, int, float, float, float]]:
    """(what, count, wall, bpftool CPU, parse CPU) per kind of call, costliest first."""
    acc: dict[str, list[float]] = {}
    for c in calls:
        a = acc.setdefault(c.what, [0, 0.0, 0.0, 0.0])
        a[0] += 1
        a[1] += c.wall
        a[2] += c.bpftool_cpu
        a[3] += c.parse_cpu
    rows = [(k, int(v[0]), v[1], v[2], v[3]) for k, v in acc.items()]
    return sorted(rows, key=lambda r: -r[2])


# -- results ----------------------------------------------------------------------


@dataclass(slots=True)
class SizeResult:
    size: int
    load: Cost
    change: Cost
    poll: Cost  # `l4lb stats`: counters + state on one Balancer
    sample: Cost  # the console: RealBackend.sample, a new Balancer each time
    counters_only: Cost
    cli_load: Cost | None = None
    cli_change: Cost | None = None
    load_calls: list[Call] = field(default_factory=list)
    change_calls: list[Call] = field(default_factory=list)
    poll_calls: list[Call] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Overheads:
    python_cli: Cost  # `python -m l4lb_tui.cli backend --help`: interpreter and imports
    bpftool_start: Cost  # `bpftool version`
    dump_stats: Cost  # `bpftool -j map dump` of 4096 per-CPU counters
    dump_stats_bytes: int
    json_parse: float  # CPU to decode that output
    syscall_stats: Cost  # the same map read with one BPF_MAP_LOOKUP_BATCH


@dataclass(slots=True)
class ControlReport:
    options: Options
    host: sandbox.Host
    results: list[SizeResult]
    overheads: Overheads | None

    @property
    def ok(self) -> bool:
        return all(not r.problems for r in self.results)


# -- the run --------------------------------------------------------------------


def synthetic(count: int) -> list[Destination]:
    """`count` distinct backends (172.16.0.1 upwards, locally administered MACs)."""
    base = int(ipaddress.IPv4Address("172.16.0.1"))
    out = []
    for i in range(count):
        ip = str(ipaddress.IPv4Address(base + i))
        mac = "02:00:" + ":".join(f"{b:02x}" for b in (base + i).to_bytes(4, "big"))
        out.append(Destination(ip, mac))
    return out


def _cli(*args: str) -> Cost:
    """One `l4lb` command, end to end (process, imports, work)."""
    argv = [sys.executable, "-m", "l4lb_tui.cli", *args]
    _, cost = measure(lambda: sandbox.run(argv, timeout=120))
    return cost


def _verify_members(bal: Balancer, key: L.ServiceKey, dests: Sequence[Destination]) -> list[str]:
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
        # A fresh balancer, so the command makes the first load.
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
            dests[size // 2].ip,
            "--weight",
            "3",
        )
        bal.detach()
        bal.attach("driver", SADDR)
        mark = len(timed.calls)

        def load() -> None:
            bal.load([key], read_destinations(csv, capacity=L.MAX_BACKENDS))

        _, load_cost = measure(load)
        problems += _verify_members(bal, key, dests)
        load_calls = timed.calls[mark:]
        mark = len(timed.calls)
        changed = dests[size // 2]
        _, change_cost = measure(lambda: bal.set_weight(key, changed.ip, 2))
        change_calls = timed.calls[mark:]
        want = [Destination(d.ip, d.mac, 2) if d is changed else d for d in dests]
        problems += _verify_members(bal, key, want)

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
            sample, cost = measure(lambda: console.sample(dev))
            sample_costs.append(cost)
            if sample.state is None:
                problems.append("the console's sample found no balancer")
        return SizeResult(
            size,
            load=load_cost,
            change=change_cost,
            poll=Cost.median(poll_costs),
            sample=Cost.median(sample_costs),
            counters_only=Cost.median(counter_costs),
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
            (measure(lambda: sandbox.run(["bpftool", "version"]))[1] for _ in range(5)),
            key=lambda c: c.wall,
        )
        pin = str(bal.map_pin("backend_stats"))
        argv = ["bpftool", "-j", "map", "dump", "pinned", pin]
        out, dump = measure(lambda: sandbox.run(argv).stdout)
        _, parse = measure(lambda: json.loads(out))
        _, sys_read = measure(lambda: bpfsys.read_array(bal.map_pin("backend_stats")))
        return Overheads(python_cli, start, dump, len(out), parse.cpu, sys_read)
    finally:
        with contextlib.suppress(BalancerError, BpfError):
            bal.detach()


def run_control(opts: Options, log: Callable[[str], None] = print) -> ControlReport:
    sandbox.need_root("l4lb bench control")
    sandbox.reap_stale()
    results: list[SizeResult] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(sandbox.terminate_cleanly())
        veth = stack.enter_context(sandbox.veth_namespace())
        stack.enter_context(sandbox.inside(veth.ns))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="l4lb-bench-")))
        for size in opts.sizes:
            if not 0 < size <= L.MAX_BACKENDS:
                raise BenchError(f"size {size}: 1 to {L.MAX_BACKENDS} destinations")
            log(f"  {size} destinations, {ADAPTER} adapter")
            results.append(run_size(size, veth.dev, workdir, opts.polls))
        log("  fixed costs")
        over = overheads(veth.dev)
    return ControlReport(opts, sandbox.host(), results, over)


# -- output -----------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:,.1f}"


def _verdict(value: float, target: float) -> str:
    return "meets" if value <= target else "MISSES"


def format_report(rep: ControlReport) -> str:
    out = [
        "l4lb bench control",
        f"  {rep.host.line()}",
        f"  one service ({SERVICE}), a veth in a namespace of this run, driver mode; "
        f"polls: median of {rep.options.polls}",
        "  times in ms; CPU = this process + the bpftool processes it ran "
        "(getrusage self + children)",
        "",
    ]
    rows = []
    for r in rep.results:
        rows.append(
            [
                f"{r.size:,}",
                ADAPTER,
                _ms(r.cli_load.wall if r.cli_load else None),
                _ms(r.load.wall),
                _ms(r.load.cpu),
                _ms(r.cli_change.wall if r.cli_change else None),
                _ms(r.change.wall),
                _ms(r.poll.wall),
                _ms(r.poll.cpu),
                _ms(r.counters_only.cpu),
                _ms(r.sample.cpu),
                "; ".join(r.problems) or "ok",
            ]
        )
    out.append(
        table(
            [
                "dests",
                "adapter",
                "load CLI",
                "load",
                "load CPU",
                "change CLI",
                "change",
                "poll",
                "poll CPU",
                "counters CPU",
                "console CPU",
                "checks",
            ],
            rows,
            right=set(range(2, 11)),
        )
    )
    out += [
        "",
        "  load CLI   `l4lb map -f CSV` as a process, end to end (first load)",
        "  load       read the CSV + Balancer.load, in this process (first load)",
        "  change     Balancer.set_weight of one backend (CLI: `l4lb backend weight`)",
        "  poll       what `l4lb stats` does each second: counters() + state()",
        "  console    what the console does each second: RealBackend.sample()",
    ]
    big = max((r.size for r in rep.results), default=0)
    largest = [r for r in rep.results if r.size == big]
    if largest:
        out += ["", f"targets at {big:,} destinations"]
        trows = []
        for r in largest:
            load = r.cli_load.wall if r.cli_load else r.load.wall
            trows.append(
                [
                    ADAPTER,
                    f"load {_ms(load)} ms",
                    _verdict(load, TARGET_LOAD),
                    f"change {_ms(r.change.wall)} ms",
                    _verdict(r.change.wall, TARGET_CHANGE),
                    f"poll CPU {_ms(r.poll.cpu)} ms",
                    _verdict(r.poll.cpu, TARGET_POLL_CPU),
                ]
            )
        out.append(
            table(["adapter", "load <=500", "", "change <=50", "", "poll CPU <=50", ""], trows)
        )
    for r in rep.results:
        if r.size != big:
            continue
        for title, calls, total in (
            ("load", r.load_calls, r.load),
            ("change one backend", r.change_calls, r.change),
            ("one poll (l4lb stats)", r.poll_calls, r.poll),
        ):
            out += ["", f"where the time goes: {title}, {big:,} destinations, {ADAPTER} adapter"]
            in_adapter = sum(c.wall for c in calls)
            rows = [
                [w, str(n), _ms(wall), _ms(kc), _ms(pc)] for w, n, wall, kc, pc in summarize(calls)
            ]
            rows.append(["(adapter calls, all)", str(len(calls)), _ms(in_adapter), "", ""])
            rows.append(
                [
                    "the rest: bpfsys array reads, planning, encoding, decoding",
                    "",
                    _ms(max(0.0, total.wall - in_adapter)),
                    "",
                    "",
                ]
            )
            out.append(
                table(
                    ["call", "n", "wall ms", "bpftool CPU ms", "our CPU ms"],
                    rows,
                    right={1, 2, 3, 4},
                )
            )
    o = rep.overheads
    if o:
        out += ["", "fixed costs"]
        out.append(
            table(
                ["what", "wall ms", "CPU ms"],
                [
                    [
                        "python -m l4lb_tui.cli backend --help (interpreter + imports)",
                        _ms(o.python_cli.wall),
                        _ms(o.python_cli.cpu),
                    ],
                    [
                        "bpftool version (a bpftool process)",
                        _ms(o.bpftool_start.wall),
                        _ms(o.bpftool_start.cpu),
                    ],
                    [
                        f"bpftool map dump backend_stats ({o.dump_stats_bytes / 1e6:.1f} MB JSON)",
                        _ms(o.dump_stats.wall),
                        _ms(o.dump_stats.cpu),
                    ],
                    ["json.loads of that output", "", _ms(o.json_parse)],
                    [
                        "the same read with BPF_MAP_LOOKUP_BATCH",
                        _ms(o.syscall_stats.wall),
                        _ms(o.syscall_stats.cpu),
                    ],
                ],
                right={1, 2},
            )
        )
    return "\n".join(out)
