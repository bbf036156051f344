"""Attach, switch, detach; the kernel's refusal shows as a notification."""

from __future__ import annotations

from textual.widgets import Static
from tui_support import SIZE, dashboard, make_app, settle

from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.screens.confirm import ConfirmScreen
from l4lb_tui.screens.mode import ModeScreen
from l4lb_tui.textual_compat import notifications


def notes(app: object) -> list[str]:
    return [n.message for n in notifications(app)]


async def test_switch_to_generic(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        assert isinstance(app.screen, ModeScreen)
        # Before the switch: what it costs, and that it resets nothing.
        note = str(app.screen.query_one("#switch-cost", Static).render())
        assert "one mode at a time" in note and "no connection is reset" in note
        await pilot.press("j", "enter")
        await settle(pilot)
        assert fake.writes == ["attach lb0 generic"]
        assert dashboard(pilot).state is not None
        assert dashboard(pilot).state.mode == "generic"  # type: ignore[union-attr]
        assert (
            "switched lb0 from driver to generic mode (gap 0.08 ms, no packet arrived in it)"
            in notes(app)
        )


async def test_offload_refused_shows_kernel_message(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # lb0 cannot offload: the menu does not offer it, the palette still does.
        dashboard(pilot).action_set_mode("offload")
        await settle(pilot)
        assert fake.writes == []
        assert any("Invalid argument" in n and "unchanged" in n for n in notes(app))
        assert dashboard(pilot).state.mode == "driver"  # type: ignore[union-attr]


async def test_detach_asks_first(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m", "j", "j", "enter")  # offload, not offered on lb0, is skipped
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert fake.writes == []
        await pilot.press("m", "j", "j", "enter", "y")
        await settle(pilot)
        assert fake.writes == ["detach lb0"]
        assert dashboard(pilot).state is None


async def test_attach_where_nothing_runs(fake: FakeBackend) -> None:
    app = make_app(fake, "lb1")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        assert not app.screen.query("#switch-cost"), "nothing to switch from"
        await pilot.press("enter")
        await settle(pilot)
        assert fake.writes == ["attach lb1 driver"]
        assert dashboard(pilot).state is not None


async def test_escape_cancels_mode(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m", "escape")
        await settle(pilot)
        assert fake.writes == [] and type(app.screen).__name__ == "DashboardScreen"
