"""How the dashboard shares the screen's lines between the backend table and
the chart: the table keeps its rows, the chart gets what is left.

Pure logic: the dashboard measures, this decides.
"""

from __future__ import annotations

MIN_ROWS = 10  # backend rows the table keeps whatever the terminal
COMPACT_BELOW = 30  # shorter terminals get passed/dropped/flows on one line
SMALLEST_CHART = 12  # lines under which a chart is not shown unless asked
ASKED_CHART = 8  # the least a chart asked for (`c`) gets


def compact_header(screen_lines: int) -> bool:
    return screen_lines < COMPACT_BELOW


def chart_lines(screen_lines: int, taken: int, shown: bool | None) -> int:
    """The chart's height (0: hidden).

    `taken`: lines used by neither the table's rows nor the chart (header,
    status, filter, the table's heading, footer); `shown`: the operator's
    choice (`c`), None to decide by size.  The chart grows with the terminal
    (a third of it, 10 to 24 lines) and, unless asked for, shows only when the
    table keeps MIN_ROWS rows beside it.
    """
    if shown is False:
        return 0
    want = max(10, min(screen_lines // 3, 24))
    spare = screen_lines - taken - MIN_ROWS
    if shown:
        return max(ASKED_CHART, min(want, spare))
    if spare >= want:
        return want
    return spare if spare >= SMALLEST_CHART else 0
