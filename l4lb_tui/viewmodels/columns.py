"""Which columns of a table fit a width: the least important go first.

Pure logic for the console's tables (htop and k9s drop columns the same
way): a table names, for each column, how soon it is given up (`drop`, 0:
never) and how narrow it may get before that (`narrowest`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

PADDING = 2  # a DataTable cell's padding, one each side
SCROLLBAR = 2  # kept free, so rows arriving never push a column out


class Column(NamedTuple):
    key: str
    label: str
    width: int
    right: bool = False  # numbers line up on the right
    style: str = ""
    drop: int = 0  # 0: always shown; otherwise the highest is dropped first
    narrowest: int = 0  # may shrink to this before it is dropped (0: never shrinks)
    keep_end: bool = False  # shrunk, it keeps its right end (a sparkline's newest)
    grow: bool = False  # takes the room the others leave (free text, such as an event's)


Fitted = tuple[tuple[int, int], ...]  # (column index, width) in the table's order


def fit_columns(columns: Sequence[Column], width: int) -> Fitted:
    """The columns shown in `width` cells, and how wide each is.

    Columns are given up in `drop` order, each first narrowed as far as it
    may go; those that are never dropped are always shown, cut if need be.
    """
    widths = {n: col.width for n, col in enumerate(columns)}
    room = width - SCROLLBAR

    def used() -> int:
        return sum(w + PADDING for w in widths.values())

    for n in sorted((n for n, c in enumerate(columns) if c.drop), key=lambda n: -columns[n].drop):
        over = used() - room
        if over <= 0:
            break
        col = columns[n]
        if col.narrowest and col.width - over >= col.narrowest:
            widths[n] = col.width - over
            break
        del widths[n]
    grower = next((n for n in widths if columns[n].grow), None)
    if grower is not None and used() < room:
        widths[grower] += room - used()
    return tuple((n, widths[n]) for n in range(len(columns)) if n in widths)
