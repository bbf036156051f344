"""Issue 14's leftovers on frozen data: the event log's old → new values,
a deleted interface's dashboard, and the load dialog at 80x24."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Button, Input, Label, OptionList, Static
from tui_support import DATA, dashboard, make_app, polls, settle

from l4lb_bench.synthetic import synthetic
from l4lb_tui.console_demo import DEMO_SERVICE, FakeBackend
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.screens.events import EventLogScreen, EventTable
from l4lb_tui.screens.load import CsvTree, LoadScreen, PreviewTable
from l4lb_tui.screens.mode import ModeScreen
from l4lb_tui.viewmodels.backend_rows import NO_RATE
from l4lb_tui.viewmodels.sparkline import Sparkline
from l4lb_tui.widgets.tables import BackendTable

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


async def test_the_load_dialog_shows_everything_at_80x24(fake: FakeBackend) -> None:
    """At 80 columns the tree took 42 of them: the labels, the buttons and
    the preview's Weight column were cut off."""
    app = make_app(fake, start_dir=DATA)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LoadScreen)
        screen.query_one("#path", Input).value = str(DATA / "32_destinations.csv")
        await pilot.press("enter")
        await settle(pilot)
        width = SMALL[0]
        for button in screen.query(Button):
            assert button.region.right <= width, (button.id, button.region)
        for label in screen.query(Label):
            assert label.region.width >= len(str(label.render())), str(label.render())
        table = screen.query_one(PreviewTable)
        assert [c.label.plain for c in table.columns.values()][-1] == "Weight"
        assert table.virtual_size.width <= table.scrollable_content_region.width
        await pilot.press("ctrl+t")  # the tree, in the form's place
        await pilot.pause()
        tree = screen.query_one(CsvTree)
        assert tree.display and tree.has_focus and tree.region.width >= 60
        await pilot.press("ctrl+t")  # and back
        await pilot.pause()
        assert screen.query_one("#path", Input).has_focus and not tree.region.width


async def test_sparklines_are_drawn_only_for_rows_on_screen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 4,096 destinations a sparkline for every backend, every poll, in
    the poll's thread, was most of the console's CPU: only rows shown are drawn."""
    drawn: list[int] = []
    real_draw = Sparkline.draw

    def counted(self: Sparkline) -> str:
        drawn.append(1)
        return real_draw(self)

    monkeypatch.setattr(Sparkline, "draw", counted)
    fake = FakeBackend()
    fake.attach("lb0", "driver")
    fake.load("lb0", [DEMO_SERVICE], synthetic(1000))
    app = make_app(fake)
    async with app.run_test(size=(200, 50)) as pilot:
        await polls(pilot, 3)
        table = app.screen.query_one(BackendTable)
        assert table.row_count == 1000 and "spark" in table.shown_columns
        drawn.clear()
        await polls(pilot, 1)
        assert 0 < len(drawn) <= 2 * table.size.height, len(drawn)


async def test_a_deleted_interface_shows_dashes_in_every_row_and_m_claims_no_mode(
    fake: FakeBackend,
) -> None:
    """Tester's 8, the rest of it: each row kept its last pkts/s, bits/s and
    share, and `m` said 'now: driver' with Driver marked current."""
    app = make_app(fake)
    async with app.run_test(size=(200, 50)) as pilot:
        await polls(pilot, 2)
        table = dashboard(pilot).query_one(BackendTable)
        at = [table.shown_columns.index(c) for c in ("pps", "bps", "share")]
        assert {plain(table.get_row_at(0)[n]) for n in at} != {NO_RATE}
        fake.remove_link("lb0")
        await polls(pilot, 1)
        for row in range(table.row_count):
            assert {plain(table.get_row_at(row)[n]).strip() for n in at} == {NO_RATE}
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ModeScreen)
        title = str(app.screen.query_one("Vertical > Static", Static).render())
        assert "now: unknown" in title, title
        prompts = [str(o.prompt) for o in app.screen.query_one(OptionList).options]
        assert not [p for p in prompts if "(current)" in p], prompts
