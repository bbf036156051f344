"""Every use of Textual's and Rich's private parts, in this one module.

Each buys something measured (the bench figures in BENCHMARKS.md) and says
why here.  Private parts change without notice, so `UPSTREAM` records, for
the pinned versions, a hash of the source of every upstream function this
console copies, overrides or calls privately (here, or where noted), and
tests/tui/test_textual_compat.py fails when the installed Textual or Rich,
or any of those sources, differs.  Upgrading is then a deliberate act: read
each changed function against its use, adapt, run tests/tui/test_tables.py
(the fast cell path against DataTable's own) and `l4lb bench console`, then
record the new versions and hashes (`python -m l4lb_tui.textual_compat`
prints them).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import selectors
from codecs import getincrementaldecoder
from collections.abc import Callable, Collection, Sequence
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._parser import ParseError
from textual._time import get_time
from textual._two_way_dict import TwoWayDict
from textual._xterm_parser import XTermParser
from textual.app import App
from textual.cache import LRUCache
from textual.drivers.linux_driver import LinuxDriver
from textual.notifications import Notification
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, RowKey

TEXTUAL_VERSION = "8.2.8"
RICH_VERSION = "15.0.0"

# The sha256 (first 16 hex digits) of each upstream function's source in the
# versions above, and what leans on it.
UPSTREAM: dict[str, str] = {
    # Copied: PromptEscapeDriver.run_input_thread.
    "textual.drivers.linux_driver.LinuxDriver.run_input_thread": "d796af6d69db337d",
    # The parser it drives, whose escape wait (_timeout_time) it reads.
    "textual._parser.Parser.tick": "44606084ad3bf7c1",
    "textual._parser.Parser.feed": "390106cde019dd29",
    "textual._xterm_parser.XTermParser.__init__": "d72babb3e40ab7da",
    # Overridden by CachedCellTable; _one_line_cell re-implements its
    # one-line path, and calls _get_styles_to_render_cell as it does.
    "textual.widgets._data_table.DataTable._render_cell": "56c87899a3bfc4da",
    "textual.widgets._data_table.DataTable._get_styles_to_render_cell": "058dea3ae068f137",
    "textual.widgets._data_table.DataTable._clear_caches": "01284b91a565558f",
    # Re-implemented by reorder_rows (its row locations and update count).
    "textual.widgets._data_table.DataTable.sort": "b63fd081626fec6f",
    "textual._two_way_dict.TwoWayDict.__init__": "d69d8645e80b479e",
    # Re-implemented for many rows at once by remove_rows.
    "textual.widgets._data_table.DataTable.remove_row": "41ab3aae864f435d",
    # Re-implemented by _one_line_cell (a padded cell of one line).
    "rich.padding.Padding.__rich_console__": "2af0638b45a1ab44",
    # Called or read: prepare_installed_screen (_get_screen), record_display
    # (_display), notifications (_notifications, which _on_notify fills).
    "textual.app.App._get_screen": "e253c005c0065e23",
    "textual.app.App._display": "4b78dff6669a455c",
    "textual.app.App._on_notify": "65e0eaed1e22eff4",
    # Public, but overridden where noted, relying on what they do.
    "textual.scroll_view.ScrollView.watch_scroll_y": "5bf45265b7c96d2b",  # KeyTable
    "textual.widgets._data_table.DataTable.get_cell": "93a2412a040a4d9f",  # KeyTable
    "textual.widgets._data_table.DataTable.get_row": "7f4134ffa6f7b3b9",  # KeyTable
    "textual.widgets._data_table.DataTable.get_column": "ee940a4636cb9009",  # KeyTable
}

SegmentLines = list[list[Segment]]


def upstream(name: str) -> Any:
    """The object a dotted name in UPSTREAM stands for."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attr in parts[split:]:
            found = getattr(found, attr)
        return found
    raise ImportError(name)


def source_hash(name: str) -> str:
    """What UPSTREAM records for `name`: a hash of its source as installed."""
    return hashlib.sha256(inspect.getsource(upstream(name)).encode()).hexdigest()[:16]


class PromptEscapeDriver(LinuxDriver):
    """Textual's LinuxDriver, whose input thread wakes when the Esc wait ends.

    Textual's input thread checks that wait only when select() returns, which
    without more input is every 100 ms: Esc arrived 100-200 ms after the key
    (half the console's key latency in a terminal).  This is the same loop
    (LinuxDriver.run_input_thread) with select() bounded by the time left to
    wait, which only the parser's private `_timeout_time` tells.
    """

    def run_input_thread(self) -> None:
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def process(ready: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> None:
            for n, (_key, mask) in enumerate(ready):
                if mask & selectors.EVENT_READ:
                    last = n == len(ready) - 1
                    data = decode(os.read(fileno, 1024 * 4), final=final and last)
                    if not data:  # stdin is a pipe
                        break
                    for event in parser.feed(data):
                        self.process_message(event)
            for event in parser.tick():
                self.process_message(event)

        def timeout() -> float:
            waiting_until = parser._timeout_time
            if waiting_until is None:
                return 0.1
            return min(0.1, max(0.0, waiting_until - get_time()))

        try:
            while not self.exit_event.is_set():
                process(selector.select(timeout()))
            selector.unregister(self.fileno)
            process(selector.select(0.1), final=True)
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass


class CachedCellTable(DataTable[Text]):
    """A DataTable that renders a cell again only when the cell changed.

    DataTable keys its own cell cache on a table-wide update counter, so one
    changed rate re-renders every cell on screen (and a modal closing over a
    changed table re-renders them all), each through Rich's Padding, Styled
    and render_lines.  Rendering 512 changed rows took 41-63 ms that way,
    13-23 ms with this: the console's largest cost at a refresh a second.
    """

    def __init__(self, **options: Any) -> None:
        # (cell value, its lines) by everything else that decides its look;
        # made before DataTable's __init__, whose watchers clear the caches.
        self._cells: LRUCache[tuple[object, ...], tuple[object, SegmentLines]] = LRUCache(4096)
        super().__init__(**options)

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

        A cell is rendered again only when its own value (a new Text from
        `update_cell`) or its look (position, style, cursor, focus) changed.
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


def prepare_installed_screen(app: App[Any], name: str) -> None:
    """Compose and mount an installed screen now, as pushing it would, without
    showing it: its first showing then only lays it out.  App has no public
    way to do this; `_get_screen` is what `push_screen` does first."""
    app._get_screen(name)


def record_display(app: App[Any], seen: Callable[[object, object], None]) -> None:
    """Call `seen(screen, renderable)` for every frame `app` renders from now
    on, after Textual has sent it to the terminal (dropped when headless).

    `App._display` is the one place every rendered update passes: the
    console benchmark times a key by the first frame that shows its result.
    """
    display = app._display

    def recording(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        seen(screen, renderable)

    app._display = recording  # type: ignore[method-assign]


def reorder_rows(table: DataTable[Any], keys: Sequence[str]) -> None:
    """Show `table`'s rows in the order of `keys` (each row's key, once).

    What DataTable.sort does once its key function has ordered the rows,
    without reading every row's cells to work the order out: a table sorted
    by rates is put in a new order every poll, and DataTable.sort took ~40
    ms of the UI thread at 4,096 rows, this ~3 ms.
    """
    by_name = {row_key.value: row_key for row_key in table._row_locations}
    table._row_locations = TwoWayDict({by_name[key]: n for n, key in enumerate(keys)})
    table._update_count += 1
    table.refresh()


def remove_rows(table: DataTable[Any], keys: Collection[str]) -> None:
    """DataTable.remove_row for every row whose key is in `keys`, at once.

    remove_row renumbers every remaining row for each row it removes: a
    4,000-backend service removed froze the console for ~35 s.  This does
    what it does (row locations, cell data, the update caches' count, the
    cursor kept in range) with one renumbering.
    """
    gone = [row_key for row_key in table._row_locations if row_key.value in keys]
    if not gone:
        return
    table._require_update_dimensions = True
    table.check_idle()
    removed = set(gone)
    where = table._row_locations
    kept = sorted((where.get(k), k) for k in where if k not in removed)  # indices are unique
    table._row_locations = TwoWayDict({row_key: n for n, (_, row_key) in enumerate(kept)})
    for row_key in gone:
        for column_key in table._data.get(row_key, {}):
            table._updated_cells.discard(CellKey(row_key, column_key))
        del table.rows[row_key]
        del table._data[row_key]
    table.cursor_coordinate = table.cursor_coordinate
    table.hover_coordinate = table.hover_coordinate
    table._update_count += 1
    table.refresh(layout=True)


def notifications(app: App[Any]) -> list[Notification]:
    """The notifications `app` shows now (toasts not yet timed out or
    dismissed), oldest first: what the tests check was said.  App keeps them
    only in its private `_notifications`."""
    return list(app._notifications)


if __name__ == "__main__":
    import importlib.metadata

    for package in ("textual", "rich"):
        print(f'{package.upper()}_VERSION = "{importlib.metadata.version(package)}"')
    for recorded in UPSTREAM:
        print(f'    "{recorded}": "{source_hash(recorded)}",')
