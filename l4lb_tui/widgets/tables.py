"""DataTables updated by row key: cells change in place, rows never rebuilt."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar, NamedTuple

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

from l4lb_tui.viewmodels.cells import Cell

SegmentLines = list[list[Segment]]


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
    compared as plain values and turned into Text only when they changed.

    Changed cells reach the DataTable only for the rows on screen: every
    `update_cell` invalidates all of DataTable's render caches, and 512 rows
    of new rates a second are ~2,000 of them for the ~35 rows anyone can see.
    The rest wait in `_latest` until they scroll into view (or someone reads
    the table's data), so what is read or shown is always the newest.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
    ]

    COLUMNS: ClassVar[Sequence[Column]] = ()

    def __init__(self, *, id: str | None = None) -> None:
        # (cell value, its lines) by everything else that decides its look;
        # before DataTable's __init__, whose watchers clear the caches.
        self._cells: LRUCache[tuple[object, ...], tuple[object, SegmentLines]] = LRUCache(4096)
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._drawn: dict[str, tuple[Cell, ...]] = {}  # what the DataTable holds
        self._latest: dict[str, tuple[Cell, ...]] = {}  # what sync asked for
        self._behind: set[str] = set()  # rows whose _drawn is not _latest

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
        if changed_shape and self._latest:
            self._catch_up(list(self._behind))
            # Keep the caller's order; the first column is unique per row.
            order = {_plain(cells[0]): n for n, (_, cells) in enumerate(rows)}
            self.sort(cols[0].key, key=lambda first: order.get(_plain(first), len(order)))
        else:
            self._catch_up_on_screen()

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

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        """DataTable's cell, reused while the cell holds the same value.

        DataTable keys its own cell cache on a table-wide update counter, so
        one changed rate re-renders every cell on screen (and a modal closing
        over a changed table re-renders them all).  Here a cell is rendered
        again only when its own value (a new Text from `_catch_up`) or its
        look (position, style, cursor, focus) changed.
        """
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:  # the header and row labels
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        value = self._data[row_key][column_key]
        look = (
            row_key,
            column_key,
            row_index,
            column_index,
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
        )
        hit = self._cells.get(look)
        if hit is not None and hit[0] is value:
            return hit[1]
        lines = self._one_line_cell(
            value, row_key, row_index, column_index, base_style, width, cursor, hover
        )
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._cells[look] = (value, lines)
        return lines

    def _one_line_cell(
        self,
        value: Text,
        row_key: RowKey,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines | None:
        """The lines DataTable renders for a cell of one styled line that fits,
        built directly (None: anything else, which DataTable renders).

        DataTable sends each cell through Rich's Padding, Styled and
        render_lines, ~0.1 ms a cell, the most of a refresh; for these cells
        that is a padded string in one style between two padding segments.
        tests/tui/test_tables.py checks both give the same segments.
        """
        plain, justify, pad = value.plain, value.justify, self.cell_padding
        room = width - 2 * pad
        if (
            not plain  # Rich renders an empty Text otherwise
            or value.spans
            or justify not in ("left", "right")
            or pad < 1
            or self.rows[row_key].height != 1
            or any(c in plain for c in "\n\t\r")
            or (justify == "right" and plain != plain.rstrip())  # Rich strips those
        ):
            return None
        used = cell_len(plain)
        if used > room:
            return None  # cropped: Rich's overflow rules
        fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        component, post = self._get_styles_to_render_cell(
            False,
            False,
            fixed,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component
        own = value.style
        if isinstance(own, str):
            own = self.app.console.get_style(own)
        fill = " " * (room - used)
        body = fill + plain if justify == "right" else plain + fill
        edge = Segment(" " * pad, pre + post)
        return [[edge, Segment(body, pre + own + post), edge]]

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._cells.clear()

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
