"""Throughput over the last minute: the total and the busiest backends."""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot

from l4lb_tui.viewmodels.history import ChartSeries

# One colour a series, none of them twice (plotext's default cycles fewer
# than the total and five backends need).
COLOURS = ("white", "cyan", "orange", "magenta", "green", "yellow", "blue", "red")
TICKS = 4  # y-axis ticks above 0


class ThroughputChart(PlotextPlot):
    def show(self, series: ChartSeries) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("pkts/s over the last 60 s: total and top backends")
        plt.xlabel("seconds ago")
        total = list(series.total)
        if total:
            plt.plot(_xs(total), total, label="total", marker="braille", color=COLOURS[0])
        for n, (label, points) in enumerate(series.top, start=1):
            colour = COLOURS[n % len(COLOURS)]
            plt.plot(_xs(points), list(points), label=label, marker="braille", color=colour)
        plt.xlim(-series.span + 1, 0)
        seconds = range(-series.span, 1, series.span // 4 or 1)
        plt.xticks(list(seconds), [str(-x) if x else "now" for x in seconds])
        ticks, labels = y_ticks(max(total, default=0.0))
        plt.ylim(0, ticks[-1])
        plt.yticks(ticks, labels)
        self.refresh()


def y_ticks(peak: float) -> tuple[list[float], list[str]]:
    """Ticks from 0 to a round value at or above `peak`, labelled in k/M/G."""
    step = _round_step(peak / TICKS) if peak > 0 else 1.0
    ticks = [step * n for n in range(TICKS + 1)]
    return ticks, [si_label(t) for t in ticks]


def _round_step(raw: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten, at or above `raw`."""
    power = 10.0 ** (len(str(int(raw))) - 1) if raw >= 1 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def si_label(value: float) -> str:
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:g}{prefix}"
    return f"{value:g}"


def _xs(series: Sequence[float]) -> list[int]:
    return list(range(1 - len(series), 1))
