"""DataTables updated by row key: cells change in place, rows never rebuilt."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

from l4lb_tui.textual_compat import CachedCellTable, remove_rows, reorder_rows
from l4lb_tui.viewmodels.cells import Cell, printable
from l4lb_tui.viewmodels.columns import Column, Fitted, cut_middle, fit_columns

__all__ = ["BackendTable", "Column", "KeyTable", "LinkTable", "num"]


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

    Only the columns that fit the table's width are shown (`fit_columns`):
    rows keep every cell, so a wider terminal shows the rest again.
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
        self.fitted: Fitted = tuple((n, c.width) for n, c in enumerate(self.COLUMNS))
        self._widths = dict(self.fitted)
        self._labels: dict[str, str] = {}  # headers shown instead of COLUMNS' (a sort's arrow)

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        for n, width in self.fitted:
            col = self.COLUMNS[n]
            self.add_column(self._labels.get(col.key, col.label), key=col.key, width=width)

    def set_labels(self, labels: dict[str, str]) -> None:
        """Headers to show, by column key; kept when columns are fitted again."""
        self._labels = dict(labels)
        for col in self.COLUMNS:
            column = self.columns.get(ColumnKey(col.key))
            if column is not None:
                column.label = Text(self._labels.get(col.key, col.label))
        self.notify_style_update()  # the header is drawn again

    @property
    def shown_columns(self) -> tuple[str, ...]:
        return tuple(self.COLUMNS[n].key for n, _ in self.fitted)

    def _text(self, col: Column, cell: Cell) -> Text:
        if isinstance(cell, Text):
            return cell
        # A Drawn cell is drawn here: only rows shown get here.  Text from
        # the kernel or the log (link names, events) may hold escapes.
        cell = printable(str(cell))
        if col.keep_end or col.wide:
            width = self._widths.get(self.COLUMNS.index(col), col.width)
            cell = cell[-width:] if col.keep_end else cut_middle(cell, width)
        return Text(cell, style=col.style, justify="right" if col.right else "left")

    def _row_cells(self, cells: Sequence[Cell]) -> list[Text]:
        cols = self.COLUMNS
        return [self._text(cols[n], cells[n]) for n, _ in self.fitted]

    def _needs(self) -> dict[int, int]:
        """The longest cell of each `wide` column (an IPv6 address wants more)."""
        return {
            n: max((len(str(cells[n])) for cells in self._latest.values()), default=0)
            for n, col in enumerate(self.COLUMNS)
            if col.wide
        }

    def refit(self, width: int) -> None:
        """Show the columns that fit `width`; rows are added again if they change."""
        fitted = fit_columns(self.COLUMNS, width, self._needs())
        if fitted == self.fitted:
            return
        self.fitted, self._widths = fitted, dict(fitted)
        if not self.is_mounted:
            return
        cursor = self.current_key
        self.clear(columns=True)
        self._add_columns()
        for key in self._order:
            self.add_row(*self._row_cells(self._latest[key]), key=key)
        self._drawn = dict(self._latest)
        self._behind.clear()
        if cursor is not None:
            self.move_cursor(row=self.get_row_index(cursor))

    def sync(self, rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        wanted = {key: tuple(cells) for key, cells in rows}
        changed_shape = False
        stale = [k for k in self._latest if k not in wanted]
        if stale:
            remove_rows(self, frozenset(stale))  # one by one is quadratic
            for key in stale:
                del self._latest[key], self._drawn[key]
                self._behind.discard(key)
            changed_shape = True
        for key, cells in wanted.items():
            old = self._latest.get(key)
            if old is None:
                self.add_row(*self._row_cells(cells), key=key)
                self._drawn[key] = cells
                changed_shape = True
            elif old != cells:
                self._behind.add(key)
            self._latest[key] = cells
        keys = list(wanted)
        if changed_shape and self.size.width and any(c.wide for c in self.COLUMNS):
            self._order = keys
            self.refit(self.size.width)  # a longer address may widen its column
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
            for n, _ in self.fitted:
                if old[n] != new[n]:
                    self.update_cell(key, cols[n].key, self._text(cols[n], new[n]))
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
        self.refit(self.size.width)
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

    def cursor_in_view(self) -> bool:
        """Whether the highlighted row is on screen, for an operator to see."""
        if not self.row_count:
            return False
        rows = self.scrollable_content_region.height - self.header_height
        top = round(self.scroll_y)
        return rows > 0 and top <= self.cursor_row < top + rows

    def reveal_cursor(self, name: str = "the highlighted row") -> str:
        """Scroll the highlighted row (`name`) into view; what to tell the
        operator.  With no room for a single row (a tiny terminal) there is
        nothing to scroll: say so, not "press again" forever."""
        if self.scrollable_content_region.height - self.header_height <= 0:
            return f"{name} cannot be shown: no room for a single row here (a taller terminal)"
        self.move_cursor(row=self.cursor_row, scroll=True)
        return f"{name} was out of sight: it is shown now, press again"

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
    # At 80 columns: the name, XDP mode, program id and balancer stay.
    COLUMNS = (
        Column("ifname", "Interface", 15, style="bold"),
        Column("state", "State", 8, drop=2),
        Column("mtu", "MTU", 6, right=True, drop=3),
        Column("driver", "Driver", 12, drop=5),
        Column("mac", "MAC", 17, drop=6),
        Column("ipv4", "IPv4", 20, drop=4, narrowest=11),
        Column("xdp", "XDP mode", 9),
        Column("prog", "Prog id", 8, right=True),
        Column("offload", "Offload", 7, drop=1),
        Column("balancer", "Balancer", 9),
    )


class BackendTable(KeyTable):
    # Narrower terminals give up the total packets, the MAC, the sparkline
    # (narrowed first), bits/s, then the service (narrowed first); the slot
    # number, IP, weight, pkts/s and share always show.
    COLUMNS = (
        Column("num", "#", 4, right=True),
        Column("service", "Service", 20, drop=3, narrowest=12, wide=51),
        Column("ip", "IP", 15, style="bold", wide=39),
        Column("mac", "MAC", 17, drop=8),
        Column("weight", "Weight", 11, right=True),  # "65535 drain"
        Column("pps", "pkts/s", 11, right=True),
        Column("bps", "bits/s", 13, right=True, drop=4),
        Column("share", "Share", 6, right=True),
        Column("health", "Health", 16, drop=6, narrowest=6),  # the daemon's checks, or a dash
        Column("spark", "last 60 s", 30, style="cyan", drop=7, narrowest=12, keep_end=True),
        Column("pkts", "Packets", 15, right=True, drop=9, spare=True),  # wide terminals
    )
