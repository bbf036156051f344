"""What a run was asked to do and what it found, kind by kind."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from l4lb_bench import defaults, machine, sandbox
from l4lb_bench.dataplane.checks import hit_rate
from l4lb_bench.dataplane.packets import Kind
from l4lb_bench.dataplane.profile import ProgProfile
from l4lb_bench.dataplane.programs import LB, PROGRAMS

MIN_HIT_RATE = 0.99


@dataclass(frozen=True, slots=True)
class Options:
    repeat: int = defaults.DATAPLANE_REPEAT
    rounds: int = defaults.DATAPLANE_ROUNDS
    cpu: int | None = None
    only: tuple[str, ...] = ()  # kind names; empty: all
    costs: bool = False  # also XDP_DROP, the extra kinds and the bench_cost.o probes
    flows: int | None = None  # the balancer's flow table size (None: attach's default)


@dataclass(slots=True)
class Series:
    """One program on one kind of packet: its runs and what they were checked for."""

    verdict: int = -1
    problems: list[str] = field(default_factory=list)  # every failed check, in words
    ns: list[int] = field(default_factory=list)  # per round
    extra: dict[str, int] = field(default_factory=dict)  # e.g. flow-table outcomes

    @property
    def median(self) -> float:
        return statistics.median(self.ns) if self.ns else float("nan")


@dataclass(slots=True)
class KindResult:
    kind: Kind
    series: dict[str, Series]

    def ratio(self, prog: str, ref: str) -> float:
        a, b = self.series[prog].ns, self.series[ref].ns
        if not a or len(a) != len(b):
            return float("nan")
        return statistics.median(x / y for x, y in zip(a, b, strict=True))

    def delta(self, prog: str, ref: str) -> float:
        """Median of round-by-round differences, ns/packet."""
        a, b = self.series[prog].ns, self.series[ref].ns
        if not a or len(a) != len(b):
            return float("nan")
        return statistics.median(x - y for x, y in zip(a, b, strict=True))

    @property
    def target_ratio(self) -> float:
        return self.ratio(LB, self.kind.ref)

    @property
    def verified(self) -> bool:
        """The balancer and the references did what they do in production."""
        return all(not self.series[p].problems for p in PROGRAMS if p in self.series)

    @property
    def hit_rate(self) -> float | None:
        """Packets that found their flow's entry, of those the table counted."""
        return hit_rate(self.series[LB].extra) if LB in self.series else None

    @property
    def meets_target(self) -> bool:
        """Within the ratio; a many-flow kind also with >= 99% hits (a table
        too small for its flows is fast only because it forgets them)."""
        hits = self.hit_rate if self.kind.flows else None
        if self.kind.flows and (hits is None or hits < MIN_HIT_RATE):
            return False
        return self.verified and self.target_ratio <= self.kind.target


@dataclass(slots=True)
class DataplaneReport:
    options: Options
    host: machine.Host
    cpu: int
    veth: sandbox.VethPair
    results: list[KindResult]
    profiles: dict[str, ProgProfile]
    wrapper_len_fixed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(not s.problems for r in self.results for s in r.series.values())
