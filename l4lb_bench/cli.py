"""`l4lb bench ...`: argparse wiring and printing; the measuring is elsewhere.

Each command prints its figures and returns 0 when it ran and every figure
was verified, 1 when a check failed (a figure that may have timed the wrong
path), 2 when it could not run.  Missed performance targets are reported,
never an error: these are measurements, not tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from l4lb_bench import defaults
from l4lb_bench.errors import BenchError

EXIT_UNVERIFIED = 1
EXIT_ERROR = 2


def _dataplane(args: argparse.Namespace) -> int:
    from l4lb_bench import dataplane as dp

    opts = dp.Options(
        repeat=defaults.DATAPLANE_QUICK_REPEAT if args.quick else args.repeat,
        rounds=defaults.DATAPLANE_QUICK_ROUNDS if args.quick else args.rounds,
        cpu=args.cpu,
        only=tuple(args.kind or ()),
        costs=args.costs,
        flows=args.flows,
    )
    rep = dp.run_dataplane(opts, log=_progress)
    print(dp.format_report(rep), flush=True)
    return 0 if rep.ok else EXIT_UNVERIFIED


def _lab(args: argparse.Namespace) -> int:
    if args.generator == "live":
        return _lab_live(args)
    from l4lb_bench import labflood

    duration = defaults.LAB_QUICK_DURATION if args.quick else args.duration or defaults.LAB_DURATION
    rep = labflood.run_lab(labflood.Options(duration=duration, sources=args.sources), log=_progress)
    print(labflood.format_report(rep), flush=True)
    return 0 if rep.ok else EXIT_UNVERIFIED


def _lab_live(args: argparse.Namespace) -> int:
    from l4lb_bench import labrate, labrate_report

    opts = labrate.Options(
        duration=defaults.LAB_QUICK_WINDOW if args.quick else args.duration or defaults.LAB_WINDOW,
        rounds=defaults.LAB_QUICK_ROUNDS if args.quick else args.rounds,
        flows=args.flows,
    )
    rep = labrate.run_live(opts, log=_progress)
    print(labrate_report.format_report(rep), flush=True)
    return 0 if rep.ok else EXIT_UNVERIFIED


def _control(args: argparse.Namespace) -> int:
    from l4lb_bench import control

    sizes = tuple(args.sizes) if args.sizes else defaults.CONTROL_SIZES
    opts = control.Options(
        sizes=defaults.CONTROL_QUICK_SIZES if args.quick else sizes,
        polls=defaults.CONTROL_QUICK_POLLS if args.quick else args.polls,
    )
    rep = control.run_control(opts, log=_progress)
    print(control.format_report(rep), flush=True)
    return 0 if rep.ok else EXIT_UNVERIFIED


def _terminal_size(text: str) -> tuple[int, int]:
    cols, _, lines = text.lower().partition("x")
    if not (cols.isdigit() and lines.isdigit() and int(cols) >= 40 and int(lines) >= 10):
        raise argparse.ArgumentTypeError(f"{text!r}: give COLSxLINES, at least 40x10")
    return int(cols), int(lines)


def _console(args: argparse.Namespace) -> int:
    from l4lb_bench import console

    opts = console.Options(
        seconds=defaults.CONSOLE_QUICK_SECONDS if args.quick else args.seconds,
        destinations=args.destinations,
        tmux=not args.no_tmux,
        presses=defaults.CONSOLE_QUICK_PRESSES if args.quick else args.presses,
        size=args.size,
    )
    rep = console.run_console(opts, log=_progress)
    print(console.format_report(rep), flush=True)
    return 0 if rep.ok else EXIT_UNVERIFIED


def _health(args: argparse.Namespace) -> int:
    from l4lb_bench.health import run_health

    seconds = defaults.HEALTH_QUICK_SECONDS if args.quick else args.seconds
    return run_health(args.backends, seconds, args.quick, _progress, args.check)


def _all(args: argparse.Namespace) -> int:
    """Every benchmark with its defaults (or --quick), one after the other."""
    worst = 0
    start = time.monotonic()
    took = []
    for name in ("dataplane", "lab", "control", "console"):
        sub_args = build_parser().parse_args(["bench", name, *(["--quick"] if args.quick else [])])
        print(f"\n=== l4lb bench {name}", flush=True)
        step = time.monotonic()
        worst = max(worst, run(sub_args))
        took.append(f"{name} {time.monotonic() - step:.0f} s")
    total = time.monotonic() - start
    print(f"\nl4lb bench all: {total:.0f} s ({', '.join(took)})", flush=True)
    return worst


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def register(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add `bench {dataplane,lab,control,console,all}`; sets func=run."""
    bench: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="measure the data plane, the lab, the control plane and the console",
        description="Benchmarks that print figures (see BENCHMARKS.md).  They build their "
        "own namespaces and remove them afterwards.",
    )
    bench.set_defaults(func=run)
    sub = bench.add_subparsers(dest="bench_command", required=True, metavar="COMMAND")
    for name, text, options in _SUBCOMMANDS:
        p: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
        p.add_argument("--quick", action="store_true", help="a short run (CI smoke)")
        if options is not None:
            options(p)
    return bench


def _dataplane_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--repeat",
        type=_positive,
        default=defaults.DATAPLANE_REPEAT,
        help=f"packets per timed run (default {defaults.DATAPLANE_REPEAT:,})",
    )
    p.add_argument(
        "--rounds",
        type=_positive,
        default=defaults.DATAPLANE_ROUNDS,
        help=f"interleaved rounds (default {defaults.DATAPLANE_ROUNDS})",
    )
    p.add_argument("--cpu", type=int, help="CPU to pin to (default: the last one)")
    p.add_argument(
        "--costs",
        action="store_true",
        help="also time XDP_DROP, the tcp-est and vip-port kinds and the what-costs-what "
        "probes (bpf/bench_cost.c)",
    )
    p.add_argument(
        "--flows",
        type=_flows,
        help="the balancer's flow table size (a power of two, e.g. 4M; default: attach's)",
    )
    p.add_argument(
        "--kind",
        action="append",
        choices=defaults.KIND_NAMES,
        help="only this packet kind (repeatable)",
    )


def _lab_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--generator",
        choices=("live", "hping3"),
        default="live",
        help="live: live frames of BPF_PROG_TEST_RUN from the client, balancer against "
        "the reflector (default); hping3: the old flood, about 110 kpps at most",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help=f"live: seconds of each round's window (default {defaults.LAB_WINDOW:g}); "
        f"hping3: seconds of flood (default {defaults.LAB_DURATION:g})",
    )
    p.add_argument(
        "--rounds",
        type=_positive,
        default=defaults.LAB_ROUNDS,
        help=f"live: rounds of balancer and reflector (default {defaults.LAB_ROUNDS})",
    )
    p.add_argument(
        "--flows",
        type=_positive,
        default=defaults.LAB_FLOWS,
        help=f"live: UDP flows, by source port (default {defaults.LAB_FLOWS:,}, at most 16,384)",
    )
    p.add_argument(
        "--sources",
        type=_positive,
        default=defaults.LAB_SOURCES,
        help=f"hping3: processes (default {defaults.LAB_SOURCES})",
    )


def _control_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sizes",
        type=_positive,
        nargs="+",
        metavar="N",
        help="destination counts (default 32 512 4096)",
    )
    p.add_argument(
        "--polls",
        type=_positive,
        default=defaults.CONTROL_POLLS,
        help=f"stats polls timed per size (default {defaults.CONTROL_POLLS})",
    )


def _console_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seconds",
        type=float,
        default=defaults.CONSOLE_SECONDS,
        help=f"seconds measured (default {defaults.CONSOLE_SECONDS:g})",
    )
    p.add_argument(
        "--destinations",
        type=_positive,
        default=defaults.CONSOLE_DESTINATIONS,
        help=f"backends loaded (default {defaults.CONSOLE_DESTINATIONS})",
    )
    p.add_argument(
        "--presses",
        type=_positive,
        default=defaults.CONSOLE_PRESSES,
        help=f"help open/close pairs timed (default {defaults.CONSOLE_PRESSES})",
    )
    p.add_argument("--no-tmux", action="store_true", help="skip the real-terminal run")
    p.add_argument(
        "--size",
        type=_terminal_size,
        default=(160, 50),
        metavar="COLSxLINES",
        help="the terminal's size (default 160x50; 80x24 is the smallest common)",
    )


def _health_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backends", type=_positive, default=4096, help="checks (default 4096)")
    p.add_argument("--seconds", type=float, default=10.0, help="measured (default 10)")
    p.add_argument("--check", choices=("tcp", "http", "udp"), default="tcp", help="(default tcp)")


_SUBCOMMANDS: tuple[tuple[str, str, Callable[[argparse.ArgumentParser], None] | None], ...] = (
    (
        "dataplane",
        "ns/packet per packet kind, against reference programs (live frames)",
        _dataplane_options,
    ),
    (
        "lab",
        "flood the lab and measure packets/s per core, balancer against reflector",
        _lab_options,
    ),
    ("control", "load, change and poll times for 32, 512 and 4096 destinations", _control_options),
    (
        "console",
        "the console's CPU and key latency with 512 destinations under traffic",
        _console_options,
    ),
    (
        "health",
        "CPU of 4,096 TCP health checks a second, as a share of one core",
        _health_options,
    ),
    ("all", "every benchmark, in under 5 minutes", None),
)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _flows(text: str) -> int:
    from l4lb_tui.flowsize import parse_flows

    try:
        return parse_flows(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "dataplane": _dataplane,
    "lab": _lab,
    "control": _control,
    "console": _console,
    "health": _health,
    "all": _all,
}


def run(args: argparse.Namespace) -> int:
    """Carry out a parsed `bench` command."""
    from l4lb_tui.balancer import BalancerError
    from l4lb_tui.bpfsys import BpfSysError
    from l4lb_tui.bpftool import BpfError
    from l4lb_tui.netlink import NetlinkError

    try:
        return _COMMANDS[args.bench_command](args)
    except (BenchError, BalancerError, BpfError, BpfSysError, NetlinkError, OSError) as exc:
        # Complete messages in the tools' own words: one line, no traceback.
        print(f"l4lb bench {args.bench_command}: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="l4lb")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(["bench", *(argv if argv is not None else sys.argv[1:])])
    code: int = args.func(args)
    return code
