"""The text `l4lb bench control` prints."""

from __future__ import annotations

from l4lb_bench.chart import table
from l4lb_bench.control.results import (
    ADAPTER,
    SERVICE,
    TARGET_CHANGE,
    TARGET_LOAD,
    TARGET_POLL_CPU,
    TARGET_SCRAPE,
    ControlReport,
    Overheads,
    SizeResult,
)
from l4lb_bench.control.timing import summarize

_REST = "the rest: bpfsys array reads, planning, encoding, decoding"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:,.1f}"


def _verdict(value: float, target: float) -> str:
    return "meets" if value <= target else "MISSES"


def format_report(rep: ControlReport) -> str:
    big = max((r.size for r in rep.results), default=0)
    largest = [r for r in rep.results if r.size == big]
    out = [*_heading(rep), *_sizes(rep), *_targets(largest)]
    for r in largest:
        out += _breakdown(r)
    if rep.overheads:
        out += _fixed_costs(rep.overheads)
    return "\n".join(out)


def _heading(rep: ControlReport) -> list[str]:
    return [
        "l4lb bench control",
        f"  {rep.host.line()}",
        f"  one service ({SERVICE}), a veth in a namespace of this run, driver mode; "
        f"polls: median of {rep.options.polls}",
        "  times in ms; CPU = this process + the bpftool processes it ran "
        "(getrusage self + children)",
        "",
    ]


def _size_row(r: SizeResult) -> list[str]:
    return [
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
        _ms(r.scrape.cpu) if r.scrape else "-",
        "; ".join(r.problems) or "ok",
    ]


def _sizes(rep: ControlReport) -> list[str]:
    header = [
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
        "scrape CPU",
        "checks",
    ]
    return [
        table(header, [_size_row(r) for r in rep.results], right=set(range(2, 12))),
        "",
        "  load CLI   `l4lb map -f CSV` as a process, end to end (first load)",
        "  load       read the CSV + Balancer.load, in this process (first load)",
        "  change     Balancer.set_weight of one backend (CLI: `l4lb backend weight`)",
        "  poll       what `l4lb stats` does each second: counters() + state()",
        "  console    what the console does each second: RealBackend.sample()",
        "  scrape     what the daemon does per Prometheus scrape: state, counters, the text",
    ]


def _targets(largest: list[SizeResult]) -> list[str]:
    if not largest:
        return []
    rows = []
    for r in largest:
        load = r.cli_load.wall if r.cli_load else r.load.wall
        rows.append(
            [
                ADAPTER,
                f"load {_ms(load)} ms",
                _verdict(load, TARGET_LOAD),
                f"change {_ms(r.change.wall)} ms",
                _verdict(r.change.wall, TARGET_CHANGE),
                f"poll CPU {_ms(r.poll.cpu)} ms",
                _verdict(r.poll.cpu, TARGET_POLL_CPU),
                f"scrape CPU {_ms(r.scrape.cpu)} ms" if r.scrape else "-",
                _verdict(r.scrape.cpu, TARGET_SCRAPE) if r.scrape else "",
            ]
        )
    header = [
        "adapter", "load <=500", "", "change <=50", "", "poll CPU <=50", "", "scrape CPU <=50", "",
    ]  # fmt: skip
    return ["", f"targets at {largest[0].size:,} destinations", table(header, rows)]


def _breakdown(r: SizeResult) -> list[str]:
    """Where the time of a load, a change and a poll went, call by call."""
    out: list[str] = []
    for title, calls, total in (
        ("load", r.load_calls, r.load),
        ("change one backend", r.change_calls, r.change),
        ("one poll (l4lb stats)", r.poll_calls, r.poll),
    ):
        in_adapter = sum(c.wall for c in calls)
        rows = [[w, str(n), _ms(wall), _ms(kc), _ms(pc)] for w, n, wall, kc, pc in summarize(calls)]
        rows.append(["(adapter calls, all)", str(len(calls)), _ms(in_adapter), "", ""])
        rest = _ms(max(0.0, total.wall - in_adapter))
        rows.append(
            ["the rest: bpfsys array reads, planning, encoding, decoding", "", rest, "", ""]
        )
        header = ["call", "n", "wall ms", "bpftool CPU ms", "our CPU ms"]
        out += [
            "",
            f"where the time goes: {title}, {r.size:,} destinations, {ADAPTER} adapter",
            table(header, rows, right={1, 2, 3, 4}),
        ]
    return out


def _fixed_costs(o: Overheads) -> list[str]:
    rows = [
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
    ]
    return ["", "fixed costs", table(["what", "wall ms", "CPU ms"], rows, right={1, 2})]
