"""KeyTable: lazy rows off screen, and cells rendered exactly as DataTable would."""

from __future__ import annotations

import itertools

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from l4lb_tui.viewmodels.cells import Cell
from l4lb_tui.viewmodels.health_rows import NONE
from l4lb_tui.widgets.tables import BackendTable

WIDE = (200, 20)  # every column shows


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield BackendTable(id="t")


def row(n: int, pps: str = "1,000", weight: Cell = "1") -> tuple[str, tuple[Cell, ...]]:
    return (
        str(n),
        (
            str(n + 1),
            "10.0.0.4:8080/tcp",
            f"10.0.1.{n + 1}",
            f"00:15:4d:00:01:{n + 1:02x}",
            weight,
            pps,
            "8,000",
            "0.2%",
            NONE,
            "  ▁▂▃▄▅▆▇█",
            "12,345",
        ),
    )


async def test_one_line_cells_match_datatable() -> None:
    """The direct path gives DataTable's own segments, style for style."""
    app = TableApp()
    async with app.run_test(size=WIDE) as pilot:
        table = app.query_one(BackendTable)
        drained = Text("3 drain", style="yellow", justify="right")
        table.sync([row(0), row(1, weight=drained), row(2, pps="")])
        await pilot.pause()
        checked = 0
        for focus, cursor, hover in itertools.product((False, True), repeat=3):
            if focus:
                table.focus()
            else:
                table.blur()
            await pilot.pause()
            table._pseudo_class_state = table.get_pseudo_class_state()
            for r, c in itertools.product(range(3), range(len(BackendTable.COLUMNS))):
                row_key = table._row_locations.get_key(r)
                assert row_key is not None
                value = table._data[row_key][table._column_locations.get_key(c)]  # type: ignore[index]
                width = table.ordered_columns[c].get_render_width(table)
                base = table.rich_style
                fast = table._one_line_cell(value, row_key, r, c, base, width, cursor, hover)
                if not value.plain:
                    assert fast is None  # left to DataTable
                    continue
                assert fast is not None, (r, c)
                slow = DataTable._render_cell(table, r, c, base, width, cursor, hover)
                assert fast == slow, (r, c, focus, cursor, hover)
                checked += 1
        assert checked == 8 * (3 * 11 - 1)


async def test_too_long_or_multiline_cells_go_through_datatable() -> None:
    app = TableApp()
    async with app.run_test(size=WIDE) as pilot:
        table = app.query_one(BackendTable)
        table.sync([row(0, pps="12,345,678,901,234,567")])
        await pilot.pause()
        row_key = table._row_locations.get_key(0)
        assert row_key is not None
        value = table.get_cell(row_key, "pps")
        assert table._one_line_cell(value, row_key, 0, 5, table.rich_style, 13) is None
        two = Text("a\nb", justify="left")
        assert table._one_line_cell(two, row_key, 0, 5, table.rich_style, 13) is None


async def test_rows_off_screen_catch_up_when_shown_or_read() -> None:
    app = TableApp()
    async with app.run_test(size=(160, 12)) as pilot:
        table = app.query_one(BackendTable)
        table.sync([row(n) for n in range(100)])
        await pilot.pause()
        table.sync([row(n, pps="2,000") for n in range(100)])
        await pilot.pause()
        # On screen: in the DataTable at once; below: waiting, unrendered.
        assert DataTable.get_cell(table, "0", "pps").plain == "2,000"
        assert DataTable.get_cell(table, "90", "pps").plain == "1,000"
        assert "90" in table._behind
        # Reading a row gives the newest values.
        assert table.get_cell("95", "pps").plain == "2,000"
        assert "95" not in table._behind
        # Scrolling there brings the rows shown up to date before they render.
        table.move_cursor(row=80)
        await pilot.pause()
        shown = range(int(table.scroll_y), int(table.scroll_y) + table.size.height - 1)
        assert 80 in shown
        for index in shown:
            assert str(index) not in table._behind
