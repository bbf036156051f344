"""Issue 14, the tester's second round: each finding on frozen data."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Input
from tui_support import dashboard, make_app, settle

from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.screens.events import EventLogScreen, EventTable

SMALL = (80, 24)


def plain(value: object) -> str:
    return value.plain if isinstance(value, Text) else str(value)


async def test_event_log_shows_what_at_80_columns_with_the_new_value(fake: FakeBackend) -> None:
    """Tester's 2: What was cut off at 80 columns, and an edit did not say
    what it changed to."""
    app = make_app(fake)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        picked = dashboard(pilot)._selected()
        assert picked is not None
        was = picked[1].weight
        await pilot.press("e")
        assert isinstance(app.screen, EditorScreen)
        weight = app.screen.query_one("#weight", Input)
        weight.value = str(was + 5)
        weight.focus()
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("E")
        await settle(pilot)
        assert isinstance(app.screen, EventLogScreen)
        table = app.screen.query_one(EventTable)
        assert "what" in table.shown_columns
        what_at = table.shown_columns.index("what")
        assert dict(table.fitted)[4] >= 30  # room for the words, not a stub
        what = plain(table.get_row_at(0)[what_at])
        assert f"weight {was} → {was + 5}" in what, what
