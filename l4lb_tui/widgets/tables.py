"""DataTables updated by row key: cells change in place, rows never rebuilt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, NamedTuple

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

# A plain string takes its column's style; a Text (rare: a warning colour)
# is shown as it is.  Strings are never read as markup.
Cell = str | Text


class Column(NamedTuple):
    key: str
    label: str
    width: int
    right: bool = False  # numbers line up on the right
    style: str = ""


def num(text: str) -> Text:
    return Text(text, justify="right")


class KeyTable(DataTable[Text]):
    """A row-cursor table with vi keys, synced from (key, cells) rows.

    `sync` diffs against what is shown (Dolphie's processlist pattern): stale
    rows are removed, changed cells get `update_cell`, new rows are added and
    the table is sorted once, so the cursor and scroll stay put.  Cells are
    compared as plain values and turned into Text only when they changed,
    which keeps a 512-row refresh cheap.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
    ]

    COLUMNS: ClassVar[Sequence[Column]] = ()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._shown: dict[str, tuple[Cell, ...]] = {}

    def on_mount(self) -> None:
        for col in self.COLUMNS:
            self.add_column(col.label, key=col.key, width=col.width)

    def _text(self, col: Column, cell: Cell) -> Text:
        if isinstance(cell, Text):
            return cell
        return Text(cell, style=col.style, justify="right" if col.right else "left")

    def sync(self, rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        wanted = {key: tuple(cells) for key, cells in rows}
        changed_shape = False
        for stale in [k for k in self._shown if k not in wanted]:
            self.remove_row(stale)
            del self._shown[stale]
            changed_shape = True
        cols = self.COLUMNS
        for key, cells in wanted.items():
            old = self._shown.get(key)
            if old is None:
                self.add_row(*(self._text(c, v) for c, v in zip(cols, cells, strict=True)), key=key)
                changed_shape = True
            elif old != cells:
                for col, before, after in zip(cols, old, cells, strict=True):
                    if before != after:
                        self.update_cell(key, col.key, self._text(col, after))
            self._shown[key] = cells
        if changed_shape and self._shown:
            # Keep the caller's order; the first column is unique per row.
            order = {_plain(cells[0]): n for n, (_, cells) in enumerate(rows)}
            self.sort(cols[0].key, key=lambda first: order.get(_plain(first), len(order)))

    @property
    def current_key(self) -> str | None:
        """The row key under the cursor, if any row is shown."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:  # the cursor can sit past the end while rows change
            return None
        return key.value


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


class LinkTable(KeyTable):
    COLUMNS = (
        Column("ifname", "Interface", 15, style="bold"),
        Column("state", "State", 8),
        Column("mtu", "MTU", 6, right=True),
        Column("driver", "Driver", 12),
        Column("mac", "MAC", 17),
        Column("ipv4", "IPv4", 20),
        Column("xdp", "XDP mode", 9),
        Column("prog", "Prog id", 8, right=True),
        Column("offload", "Offload", 7),
        Column("balancer", "Balancer", 9),
    )


class BackendTable(KeyTable):
    COLUMNS = (
        Column("num", "#", 4, right=True),
        Column("service", "Service", 20),
        Column("ip", "IP", 15, style="bold"),
        Column("mac", "MAC", 17),
        Column("weight", "Weight", 11, right=True),  # "65535 drain"
        Column("pps", "pkts/s", 11, right=True),
        Column("bps", "bits/s", 15, right=True),
        Column("share", "Share", 6, right=True),
        Column("spark", "last 60 s", 30, style="cyan"),
    )
