"""The backend table's sort, htop's way: `<` and `>` move it to the previous
or next column, `I` turns it over; pkts/s, busiest first, by default.

Pure: the rows carry their sort values (`BackendLine.sort_values`, one per
column, made in the poll's thread), and the order is worked out here.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from l4lb_tui.stats import BackendRow

# The backend table's columns in order, with whether each sorts highest
# first when it is picked (numbers do; names and addresses do not).
COLUMNS: tuple[tuple[str, bool], ...] = (
    ("num", False),
    ("service", False),
    ("ip", False),
    ("mac", False),
    ("weight", True),
    ("pps", True),
    ("bps", True),
    ("share", True),
    ("health", False),
    ("spark", True),
    ("pkts", True),
)
KEYS = tuple(key for key, _ in COLUMNS)
HEALTH_RANK = {"down": 0, "rising": 1, "falling": 2, "unknown": 3, "up": 4}

SortValue = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class SortOrder:
    column: str = "pps"
    descending: bool = True

    def step(self, by: int, shown: Sequence[str] = KEYS) -> SortOrder:
        """The next (`by` 1) or previous (-1) of the `shown` columns, in its
        own direction: a sort by a column the terminal hides would order the
        rows by nothing the operator can see."""
        keys = [key for key in KEYS if key in shown] or list(KEYS)
        if self.column in keys:
            key = keys[(keys.index(self.column) + by) % len(keys)]
        else:  # sorted by a hidden column: the nearest shown one that way
            at = KEYS.index(self.column) if self.column in KEYS else 0
            after = [k for k in keys if (KEYS.index(k) - at) * by > 0]
            key = (after[0] if by > 0 else after[-1]) if after else keys[0 if by > 0 else -1]
        return SortOrder(key, dict(COLUMNS)[key])

    def flipped(self) -> SortOrder:
        return SortOrder(self.column, not self.descending)

    def on(self, column: str) -> SortOrder:
        """Sorting by `column`: turned over if it is the sort already."""
        if column == self.column:
            return self.flipped()
        return SortOrder(column, dict(COLUMNS).get(column, False))

    def label(self, column: str, label: str, width: int = 0) -> str:
        """A column's header: with an arrow when the table is sorted by it,
        inside the column's `width` (a header is cut at it)."""
        if column != self.column:
            return label
        arrow = "▼" if self.descending else "▲"
        if not width or len(label) + 2 <= width:
            return f"{label} {arrow}"
        if len(label) + 1 <= width:
            return f"{label}{arrow}"
        return f"{arrow}{label[: max(width - 1, 0)]}"

    def words(self, labels: Mapping[str, str]) -> str:
        """As an operator reads it: by the column's header."""
        name = labels.get(self.column, self.column)
        return f"{name} {'descending' if self.descending else 'ascending'}"


@functools.lru_cache(maxsize=16384)  # the same addresses, poll after poll
def _address(text: str) -> tuple[int, int, str]:
    """By family (IPv4 first), then numerically; anything else last."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return (7, 0, text)
    return (addr.version, int(addr), "")


@functools.lru_cache(maxsize=4096)
def _service(text: str) -> tuple[tuple[int, int, str], int, str]:
    """ "10.0.0.4:8080/tcp" or "[fd00::4]:8080/tcp" by address, then port
    (numerically), then the rest; one VIP's services stay together."""
    addr_port, _, proto = text.rpartition("/")
    host, _, port = addr_port.rpartition(":")
    return (_address(host.strip("[]")), int(port) if port.isdigit() else 0, proto or text)


def sort_values(row: BackendRow, health: str) -> SortValue:
    """What each column of `row` sorts by, in the table's column order."""
    pps = row.rate.pps
    return (
        row.index,
        _service(row.service),
        _address(row.ip),
        row.mac,
        (0 if row.draining or row.down else row.weight, row.weight),
        pps,
        row.rate.bps,
        pps,
        HEALTH_RANK.get(health, 5),
        pps,
        row.pkts,
    )


def ordered(values: Sequence[SortValue], order: SortOrder) -> list[int]:
    """The positions of `values` in the order asked; ties keep the view's
    order (a stable sort, each way)."""
    col = KEYS.index(order.column) if order.column in KEYS else KEYS.index("pps")
    positions = range(len(values))
    if order.descending:
        # Stable and descending: sort the reversed positions, then reverse.
        return sorted(positions, key=lambda n: (values[n][col], -n), reverse=True)
    return sorted(positions, key=lambda n: (values[n][col], n))
