"""Text output of the benchmarks: aligned tables and plotext bar charts.

Charts are built with plotext and returned as plain text (no colour codes),
so they read the same in a terminal, a CI log and BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Sequence


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int] | None = None
) -> str:
    """Columns padded to their widest cell; `right` aligns those columns right."""
    right = right or set()
    cells = [list(header), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def bars(
    groups: Sequence[tuple[str, Sequence[tuple[str, float]]]], title: str, width: int = 88
) -> str:
    """Horizontal bars, one row per (group, series) pair, labelled on each row."""
    labels: list[str] = []
    values: list[float] = []
    gw = max((len(g) for g, _ in groups), default=0)
    sw = max((len(s) for _, series in groups for s, _ in series), default=0)
    for group, series in groups:
        for i, (name, value) in enumerate(series):
            labels.append(f"{group if i == 0 else '':<{gw}} {name:<{sw}}")
            values.append(round(value, 1))
    import plotext as plt  # only when a chart is drawn: it is slow to import

    plt.clear_figure()
    plt.simple_bar(labels, values, width=width, title=title)
    text: str = plt.uncolorize(plt.build())
    plt.clear_figure()
    return text.rstrip()


def fmt_ns(value: float) -> str:
    return "-" if value != value else f"{value:,.0f}"  # NaN: no figure


def fmt_ratio(value: float) -> str:
    return "-" if value != value else f"{value:.2f}x"
