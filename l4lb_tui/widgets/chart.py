"""Throughput over the last minute: the total and the busiest backends."""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot

from l4lb_tui.viewmodels.history import ChartSeries


class ThroughputChart(PlotextPlot):
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
