"""Which columns of a table fit a width: the least important go first.

Pure logic for the console's tables (htop and k9s drop columns the same
way): a table names, for each column, how soon it is given up (`drop`, 0:
never) and how narrow it may get before that (`narrowest`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    # Widens up to this for long cells (an IPv6 address) from the room the
    # others leave; cut, it keeps both ends around a "…" (0: neither).
    wide: int = 0
    spare: bool = False  # given up whole for a long address's room (an extra)


Fitted = tuple[tuple[int, int], ...]  # (column index, width) in the table's order


def fit_columns(
    columns: Sequence[Column], width: int, needs: Mapping[int, int] | None = None
) -> Fitted:
    """The columns shown in `width` cells, and how wide each is.

    Columns are given up in `drop` order, each first narrowed as far as it
    may go; those that are never dropped are always shown, cut if need be.
    A `wide` column whose longest cell (`needs`, by index) is longer than
    its width then takes what room is left, up to that cell's length.
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
    # The always-shown first (an IP before a service); a sparkline gives up
    # history, then the others narrow and a `spare` column goes, before an
    # address is cut.
    for n, need in sorted((needs or {}).items(), key=lambda item: columns[item[0]].drop):
        if n not in widths or not columns[n].wide or need <= widths[n]:
            continue
        want = min(need, columns[n].wide) - widths[n]
        for m in _donors(columns, widths):
            short = want - (room - used())
            if short <= 0:
                break
            if columns[m].spare:
                del widths[m]
            else:
                widths[m] -= min(widths[m] - columns[m].narrowest, short)
        widths[n] += max(0, min(want, room - used()))
    grower = next((n for n in widths if columns[n].grow), None)
    if grower is not None and used() < room:
        widths[grower] += room - used()
    return tuple((n, widths[n]) for n in range(len(columns)) if n in widths)


def _donors(columns: Sequence[Column], widths: Mapping[int, int]) -> list[int]:
    """Who gives room to a long address, in turn: the sparkline's history,
    the other narrowable columns (least important first), then the `spare`
    ones, given up whole."""
    narrow = [
        m
        for m in widths
        if columns[m].narrowest and not columns[m].wide and widths[m] > columns[m].narrowest
    ]
    narrow.sort(key=lambda m: (not columns[m].keep_end, -columns[m].drop))
    return narrow + [m for m in widths if columns[m].spare]


def cut_middle(text: str, width: int) -> str:
    """`text` in `width` cells, cut in the middle with a "…": the end of an
    address (what tells two IPv6 backends apart) and its start both stay."""
    if len(text) <= width or width < 3:
        return text[:width]
    close = text.find("]:")
    if text.startswith("[") and close > 0 and width - (len(text) - close) >= 6:
        # A bracketed IPv6 service: its port and protocol whole, its
        # address cut (t18 LOW-6: two VIPs read as one `[2001:…6]:65535/tcp`).
        return cut_middle(text[:close], width - (len(text) - close)) + text[close:]
    head = (width - 1) // 3
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]
