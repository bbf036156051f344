"""Throughput over the last minute: the total and the busiest backends."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from l4lb_tui.widgets.history import RateHistory

TOP = 5


class ThroughputChart(PlotextPlot):
    """Redrawn from a copy of the history (Dolphie copies its deques too)."""

    def show_history(self, history: RateHistory) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("pkts/s over the last 60 s: total and top backends")
        plt.xlabel("seconds ago")
        total = list(history.total_pps)
        if total:
            plt.plot(_xs(total), total, label="total", marker="braille")
        for label, series in history.top(TOP):
            plt.plot(_xs(series), series, label=label, marker="braille")
        plt.xlim(-history.span + 1, 0)
        if not total or max(total) == 0:
            plt.ylim(0, 1)
        self.refresh()


def _xs(series: list[float]) -> list[int]:
    return list(range(1 - len(series), 1))
