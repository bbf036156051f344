"""Issue 14's leftovers on frozen data: the event log's old → new values,
a deleted interface's dashboard, and the load dialog at 80x24."""

from __future__ import annotations

from rich.text import Text
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input
from tui_support import dashboard, make_app, settle

from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.screens.events import EventLogScreen, EventTable

SMALL = (80, 24)


def plain(value: object) -> str:
    return value.plain if isinstance(value, Text) else str(value)


async def newest_what(pilot: Pilot[object], app: App[object]) -> str:
    """The What of the event log's newest row, the log opened with `E`."""
    await pilot.press("E")
    await settle(pilot)
    assert isinstance(app.screen, EventLogScreen)
    table = app.screen.query_one(EventTable)
    return plain(table.get_row_at(0)[table.shown_columns.index("what")])


async def test_a_drain_is_logged_with_what_it_was_and_is_now(fake: FakeBackend) -> None:
    """The log said "drain 10.0.1.1 of …": not what the backend became."""
    app = make_app(fake)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        picked = dashboard(pilot)._selected()
        assert picked is not None and not picked[1].draining
        await pilot.press("x")
        await settle(pilot)
        what = await newest_what(pilot, app)
        assert what == f"drain {picked[1].ip} of {picked[0]}: drained no → yes", what


async def test_an_added_backend_is_logged_with_its_weight_and_mac(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        app.screen.query_one("#ip", Input).value = "10.0.9.9"
        app.screen.query_one("#mac", Input).value = "02:00:00:00:09:09"
        app.screen.query_one("#weight", Input).value = "4"
        await pilot.press("ctrl+s")
        await settle(pilot)
        what = await newest_what(pilot, app)
        assert what.endswith(": new, weight 4, MAC 02:00:00:00:09:09"), what
        assert what.startswith("add 10.0.9.9 to "), what
