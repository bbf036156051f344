"""Load a CSV: browse, preview with errors, apply or cancel."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, Input, Static
from tui_support import DATA, SIZE, dashboard, make_app, settle

from l4lb_tui import abi
from l4lb_tui.console_demo import DEMO_SERVICE, FakeBackend
from l4lb_tui.screens.load import LoadScreen, PreviewTable
from l4lb_tui.textual_compat import notifications


def members(fake: FakeBackend, key: abi.ServiceKey = DEMO_SERVICE) -> list[str]:
    state = fake.sample("lb0").state
    assert state is not None
    return [b.ip for s in state.services if s.key == key for b in s.backends]


async def type_path(pilot: object, path: Path) -> None:
    screen = pilot.app.screen  # type: ignore[attr-defined]
    # Typing a long path key by key costs ~60 ms a key in Pilot; completion
    # while typing has its own test (test_path_completes_while_typing).
    box = screen.query_one("#path", Input)
    box.value = str(path)
    box.focus()
    await pilot.press("enter")  # type: ignore[attr-defined]
    await settle(pilot)  # type: ignore[arg-type]


async def test_good_file_previews_then_applies(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        screen = app.screen
        assert isinstance(screen, LoadScreen)
        assert screen.query_one("#services", Input).value == "10.0.0.4:8080/tcp"
        await type_path(pilot, DATA / "32_destinations.csv")
        summary = str(screen.query_one("#summary", Static).render())
        assert "32 destinations, no errors" in summary
        assert screen.query_one(PreviewTable).row_count == 32
        assert not screen.query_one("#apply", Button).disabled
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert fake.writes == ["edit lb0 10.0.0.4:8080/tcp 32"]
        assert len(members(fake)) == 32
        assert dashboard(pilot).csv_path == DATA / "32_destinations.csv"


async def test_bad_file_shows_line_numbers_and_changes_nothing(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = members(fake)
        await pilot.press("l")
        screen = app.screen
        await type_path(pilot, DATA / "bad_destinations.csv")
        summary = str(screen.query_one("#summary", Static).render())
        assert "4 errors" in summary
        table = screen.query_one(PreviewTable)
        lines = [table.get_row_at(r)[0].plain.strip() for r in range(table.row_count)]
        assert lines == ["3", "5", "7", "8"]
        assert screen.query_one("#apply", Button).disabled
        await pilot.press("ctrl+s")  # refused: nothing to apply
        await settle(pilot)
        assert isinstance(app.screen, LoadScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert fake.writes == [] and members(fake) == before


async def test_blank_services_warns_catch_all(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        screen = app.screen
        await type_path(pilot, DATA / "32_destinations.csv")
        services = screen.query_one("#services", Input)
        services.value = ""
        await pilot.pause()
        note = str(screen.query_one("#services-note", Static).render())
        assert "ALL TCP and UDP" in note
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert len(members(fake, abi.CATCH_ALL)) == 32
        assert any("catch-all" in n.message for n in notifications(app))


async def test_bad_service_spec_blocks_apply(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        screen = app.screen
        await type_path(pilot, DATA / "32_destinations.csv")
        screen.query_one("#services", Input).value = "10.0.0.4:99999"
        await pilot.pause()
        assert screen.query_one("#apply", Button).disabled
        assert "port must be" in str(screen.query_one("#services-note", Static).render())


async def test_pick_from_the_file_tree(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l", "ctrl+t")
        await settle(pilot)
        tree = app.screen.query_one("CsvTree")
        assert tree.has_focus
        names = [str(tree.get_node_at_line(n).label) for n in range(1, tree.last_line + 1)]
        target = names.index("32_destinations.csv") + 1
        for _ in range(target):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.query_one("#path", Input).value == str(DATA / "32_destinations.csv")
        assert "32 destinations" in str(app.screen.query_one("#summary", Static).render())


async def test_missing_file_is_reported(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await type_path(pilot, DATA / "nope.csv")
        assert "no such file" in str(app.screen.query_one("#summary", Static).render())


async def test_path_completes_while_typing(
    fake: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(DATA.parent)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        box = app.screen.query_one("#path", Input)
        box.value = ""
        await pilot.press(*"data/3")
        await settle(pilot)  # the suggester answers asynchronously
        await pilot.press("right", "enter")  # → accepts the completion, Enter previews
        await settle(pilot)
        assert box.value == "data/32_destinations.csv"
        assert "32 destinations, no errors" in str(
            app.screen.query_one("#summary", Static).render()
        )
