"""`?` lists every key; the command palette holds every action."""

from __future__ import annotations

from textual.binding import Binding
from textual.command import CommandPalette
from tui_support import SIZE, dashboard, make_app, settle

from l4lb_tui.app import ConsoleApp
from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.screens.dashboard import DashboardScreen
from l4lb_tui.screens.help import HelpScreen, help_table, key_label
from l4lb_tui.screens.interfaces import InterfacesScreen
from l4lb_tui.screens.palette import ConsoleCommands


def table_text(app: ConsoleApp) -> str:
    from rich.console import Console

    console = Console(width=120, record=True)
    console.print(help_table(app.BINDINGS))
    return console.export_text()


def test_help_lists_every_key_of_every_screen() -> None:
    app = ConsoleApp(FakeBackend())
    text = table_text(app)
    for cls in (ConsoleApp, InterfacesScreen, DashboardScreen):
        for b in cls.BINDINGS:
            assert isinstance(b, Binding)
            if b.description:
                assert b.description in text
    assert "Drain: stop new flows to the highlighted backend" in text
    assert "Service view: all services, or one at a time" in text
    keys = ("q", "?", "/", "a", "e", "d", "x", "v", "m", "l", "s", "p", "u", "j", "k", "Esc")
    for key in (*keys, "ctrl+p"):
        assert f"\n{key} " in text or f"\n{key}\n" in text or f" {key} " in text, key


def test_key_labels() -> None:
    assert key_label("n,escape") == "n Esc"
    assert key_label("question_mark") == "?"


async def test_question_mark_opens_and_closes_help(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")  # ? toggles
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("question_mark", "j", "escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_palette_holds_every_dashboard_action(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        provider = ConsoleCommands(app.screen)
        names = [hit.text async for hit in provider.discover()]
        for b in DashboardScreen.BINDINGS:
            assert isinstance(b, Binding)
            assert b.description in names
        assert {"Attach in driver mode", "Attach in offload mode", "Detach", "Help", "Quit"} <= set(
            names
        )
        assert {"Drain", "Service view"} <= set(names)


async def test_palette_runs_an_action(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"pause")
        await pilot.pause(0.3)  # the palette searches asynchronously
        await pilot.press("enter")
        await settle(pilot)
        assert dashboard(pilot).paused


async def test_palette_opens_an_interface(fake: FakeBackend) -> None:
    app = make_app(fake, None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        provider = ConsoleCommands(app.screen)
        names = [hit.text async for hit in provider.discover()]
        assert "Open lb1" in names and "Filter" in names
        await pilot.press("ctrl+p", *"open lb1")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen) and app.screen.ifname == "lb1"
