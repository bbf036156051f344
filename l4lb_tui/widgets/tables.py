"""DataTables updated by row key: cells change in place, rows never rebuilt."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar, NamedTuple

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

from l4lb_tui.textual_compat import CachedCellTable, reorder_rows
from l4lb_tui.viewmodels.cells import Cell


class Column(NamedTuple):
    key: str
    label: str
    width: int
    right: bool = False  # numbers line up on the right
    style: str = ""


def num(text: str) -> Text:
    return Text(text, justify="right")


class KeyTable(CachedCellTable):
    """A row-cursor table with vi keys, synced from (key, cells) rows.

    `sync` diffs against what is shown (Dolphie's processlist pattern): stale
    rows are removed, changed cells get `update_cell`, new rows are added and
    the table is sorted once, so the cursor and scroll stay put.  Cells are
    compared as plain values and turned into Text only when they changed.

    Changed cells reach the DataTable only for the rows on screen: every
    `update_cell` invalidates all of DataTable's render caches, and 512 rows
    of new rates a second are ~2,000 of them for the ~35 rows anyone can see.
    The rest wait in `_latest` until they scroll into view (or someone reads
    the table's data), so what is read or shown is always the newest.  A
    cell whose value did not change is not rendered again (CachedCellTable).
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
        self._drawn: dict[str, tuple[Cell, ...]] = {}  # what the DataTable holds
        self._latest: dict[str, tuple[Cell, ...]] = {}  # what sync asked for
        self._behind: set[str] = set()  # rows whose _drawn is not _latest
        self._order: list[str] = []  # the row keys in the order last asked for

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
        for stale in [k for k in self._latest if k not in wanted]:
            self.remove_row(stale)
            del self._latest[stale], self._drawn[stale]
            self._behind.discard(stale)
            changed_shape = True
        cols = self.COLUMNS
        for key, cells in wanted.items():
            old = self._latest.get(key)
            if old is None:
                self.add_row(*(self._text(c, v) for c, v in zip(cols, cells, strict=True)), key=key)
                self._drawn[key] = cells
                changed_shape = True
            elif old != cells:
                self._behind.add(key)
            self._latest[key] = cells
        keys = list(wanted)
        if changed_shape and self._latest:
            self._catch_up(list(self._behind))
            reorder_rows(self, keys)
        elif keys != self._order and self._latest:
            # Only the order changed (a sort by rates does, every poll): the
            # rows off screen stay behind.  The cursor stays on the row it
            # was on, wherever that row goes.
            followed = self.current_key
            reorder_rows(self, keys)
            if followed is not None and followed in wanted:
                at = self.get_row_index(followed)
                if at != self.cursor_row:
                    self.move_cursor(row=at, scroll=False)  # its watcher scrolls to it
            self._catch_up_on_screen()
        else:
            self._catch_up_on_screen()
        self._order = keys

    def _catch_up(self, keys: Iterable[str]) -> None:
        """Give these rows' changed cells to the DataTable."""
        cols = self.COLUMNS
        for key in keys:
            self._behind.discard(key)
            old, new = self._drawn[key], self._latest[key]
            for col, before, after in zip(cols, old, new, strict=True):
                if before != after:
                    self.update_cell(key, col.key, self._text(col, after))
            self._drawn[key] = new

    def _catch_up_on_screen(self) -> None:
        if not self._behind:
            return
        # Rows are one line high; a line of margin covers the header and a
        # fractional scroll.
        top = max(0, int(self.scroll_y) - 1)
        bottom = min(self.row_count, int(self.scroll_y) + self.size.height + 1)
        keys = []
        for index in range(top, bottom):
            key = self.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value
            if key in self._behind:
                keys.append(key)
        self._catch_up(keys)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        self._catch_up_on_screen()
        super().watch_scroll_y(old_value, new_value)

    def on_resize(self) -> None:
        self._catch_up_on_screen()

    # Whoever reads the cells gets the newest values, on screen or not.
    # (DataTable reads rows through get_row_at -> get_row as it renders them:
    # those on screen are caught up already, so rendering changes nothing.)

    def _catch_up_row(self, row_key: RowKey | str) -> None:
        key = row_key.value if isinstance(row_key, RowKey) else row_key
        if key in self._behind:
            self._catch_up([key])

    def get_cell(self, row_key: RowKey | str, column_key: ColumnKey | str) -> Text:
        self._catch_up_row(row_key)
        return super().get_cell(row_key, column_key)

    def get_row(self, row_key: RowKey | str) -> list[Text]:
        self._catch_up_row(row_key)
        return super().get_row(row_key)

    def get_column(self, column_key: ColumnKey | str) -> Iterable[Text]:
        self._catch_up(list(self._behind))
        return super().get_column(column_key)

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
        Column("health", "Health", 16),  # the daemon's checks; a dash without one
        Column("spark", "last 60 s", 30, style="cyan"),
    )
