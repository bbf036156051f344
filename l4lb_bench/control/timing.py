"""How the control plane's work is timed: wall time and CPU of this process
and the bpftool processes it waits for, and each bpftool call on its own."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from l4lb_tui.bpftool import Bpftool

T = TypeVar("T")


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
