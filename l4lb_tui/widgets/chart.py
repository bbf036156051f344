"""Throughput over the last minute: the total and the busiest backends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual_plotext import PlotextPlot

from l4lb_tui.viewmodels.history import SPAN, RateHistory

TOP = 5


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


class ThroughputChart(PlotextPlot):
    def show_history(self, history: RateHistory) -> None:
        self.show(ChartSeries.of(history))

    def show(self, series: ChartSeries) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("pkts/s over the last 60 s: total and top backends")
        plt.xlabel("seconds ago")
        total = list(series.total)
        if total:
            plt.plot(_xs(total), total, label="total", marker="braille")
        for label, points in series.top:
            plt.plot(_xs(points), list(points), label=label, marker="braille")
        plt.xlim(-series.span + 1, 0)
        if not total or max(total) == 0:
            plt.ylim(0, 1)
        self.refresh()


def _xs(series: Sequence[float]) -> list[int]:
    return list(range(1 - len(series), 1))
