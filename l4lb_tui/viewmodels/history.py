"""The last minute of rates, per backend and in total (Dolphie keeps deques too),
and the copy of it the chart draws."""

from __future__ import annotations

import heapq
from collections import Counter, deque
from dataclasses import dataclass

from l4lb_tui.stats import StatsView

SPAN = 60  # samples kept: one a second
TOP = 5  # backends the chart draws beside the total


class RateHistory:
    def __init__(self, span: int = SPAN) -> None:
        self.span = span
        self.total_pps: deque[float] = deque(maxlen=span)
        self.total_bps: deque[float] = deque(maxlen=span)
        self.backends: dict[int, deque[float]] = {}
        self.labels: dict[int, str] = {}
        # Each backend's sum over the window, kept as samples come and go:
        # the chart's busiest backends, every second, without summing 4,096
        # windows again.  Summed afresh once a window, so float error never
        # builds up.
        self._sums: dict[int, float] = {}
        self._adds = 0
        self._peak = 0.0

    def clear(self) -> None:
        self.total_pps.clear()
        self.total_bps.clear()
        self.backends.clear()
        self.labels.clear()
        self._sums.clear()
        self._peak = 0.0

    def add(self, view: StatsView) -> None:
        seen = set()
        # A server in several services needs its service in the chart's legend.
        ips = Counter(row.ip for row in view.rows)
        sums, span = self._sums, self.span
        for row in view.rows:
            index, pps = row.index, row.rate.pps
            seen.add(index)
            window = self.backends.get(index)
            if window is None:
                window = self.backends[index] = deque(maxlen=span)
                sums[index] = 0.0
            sums[index] += pps - (window[0] if len(window) == span else 0.0)
            window.append(pps)
            self.labels[index] = row.ip if ips[row.ip] == 1 else f"{row.ip} {row.service}"
        for gone in set(self.backends) - seen:
            del self.backends[gone]
            self.labels.pop(gone, None)
            sums.pop(gone, None)
        self._adds += 1
        if self._adds % span == 0:
            self._sums = {i: sum(d) for i, d in self.backends.items()}
        self.total_pps.append(view.total.pps)
        self.total_bps.append(view.total.bps)
        self._peak = max((max(d) for d in self.backends.values() if d), default=0.0)

    @property
    def peak(self) -> float:
        """The highest per-backend rate in the window: the sparklines' common top."""
        return self._peak

    def series(self, index: int) -> tuple[float, ...]:
        return tuple(self.backends.get(index, ()))

    def top(self, count: int) -> list[tuple[str, list[float]]]:
        """The `count` busiest backends over the window (ties by slot), with
        their series, in slot order: a legend that does not reorder itself
        every second, and colours that stay with their backends while they
        stay in it."""
        sums = self._sums
        # Rates are never negative: a backend with any traffic in the window
        # has a sum above 0 (float error aside: hence the margin).
        busy = (i for i, total in sums.items() if total > 1e-9)
        ranked = heapq.nsmallest(count, busy, key=lambda i: (-sums[i], i))
        return [(self.labels[i], list(self.backends[i])) for i in sorted(ranked)]


@dataclass(frozen=True, slots=True)
class ChartSeries:
    """A copy of what the chart draws (Dolphie copies its deques too), taken
    where the history is kept: the poll's thread."""

    span: int = SPAN
    total: tuple[float, ...] = ()
    top: tuple[tuple[str, tuple[float, ...]], ...] = ()

    @classmethod
    def of(cls, history: RateHistory) -> ChartSeries:
        top = tuple((label, tuple(series)) for label, series in history.top(TOP))
        return cls(history.span, tuple(history.total_pps), top)
