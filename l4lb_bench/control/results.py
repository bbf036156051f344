"""What a run was asked to do, the targets it is held to, and what it found
size by size."""

from __future__ import annotations

from dataclasses import dataclass, field

from l4lb_bench import defaults, machine
from l4lb_bench.control.timing import Call, Cost

SERVICE = "10.0.0.4:8080/tcp"
SADDR = "10.0.0.1"
ADAPTER = "bpftool"  # the product's one adapter for map writes, as the report names it

# Targets of issue 6, for the largest size.
TARGET_LOAD = 0.5
TARGET_CHANGE = 0.050
TARGET_POLL_CPU = 0.050
TARGET_SCRAPE = 0.050  # issue 15: a scrape of 4,096 backends


@dataclass(frozen=True, slots=True)
class Options:
    sizes: tuple[int, ...] = defaults.CONTROL_SIZES
    polls: int = defaults.CONTROL_POLLS


@dataclass(slots=True)
class SizeResult:
    size: int
    load: Cost
    change: Cost
    poll: Cost  # `l4lb stats`: counters + state on one Balancer
    sample: Cost  # the console: RealBackend.sample, a new Balancer each time
    counters_only: Cost
    scrape: Cost | None = None  # the daemon's metrics: counters + state + the text
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
    host: machine.Host
    results: list[SizeResult]
    overheads: Overheads | None

    @property
    def ok(self) -> bool:
        return all(not r.problems for r in self.results)
