"""Issue 14's smaller things, on frozen data: the mode menu offers only what
the link can do, and lo is not invited to attach."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.console import Console
from textual.widgets import Input, OptionList, Static
from tui_support import DATA, SIZE, dashboard, make_app, manual, polls, settle

from l4lb_tui.app import ConsoleApp
from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.screens.help import help_table, sections
from l4lb_tui.screens.load import LoadScreen
from l4lb_tui.screens.mode import ModeScreen
from l4lb_tui.screens.refusal import RefusalScreen
from l4lb_tui.textual_compat import notifications
from l4lb_tui.widgets.header import DashboardHeader


def offered(screen: ModeScreen) -> dict[str, bool]:
    listed = screen.query_one(OptionList)
    options = (listed.get_option_at_index(n) for n in range(listed.option_count))
    return {str(o.id): not o.disabled for o in options}


async def test_the_mode_menu_offers_offload_only_where_the_link_can(fake: FakeBackend) -> None:
    for ifname, can in (("lb0", False), ("nfp0", True)):
        app = make_app(fake, ifname)
        async with app.run_test(size=SIZE) as pilot:
            await polls(pilot, 1)
            await pilot.press("m")
            await settle(pilot)
            assert isinstance(app.screen, ModeScreen)
            assert offered(app.screen)["offload"] is can, ifname
            assert offered(app.screen)["generic"]


async def test_lo_is_not_invited_to_attach(fake: FakeBackend) -> None:
    app = make_app(fake, "lo")
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 1)
        header = str(app.screen.query_one(DashboardHeader).render())
        assert "press m" not in header and "no Ethernet address" in header
        assert "press m" not in str(app.screen.query_one("StatusLine").render())
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ModeScreen)
        assert not any(offered(app.screen)[k] for k in ("driver", "generic", "offload"))


async def test_a_refusal_is_one_line_with_the_rest_one_key_away(fake: FakeBackend) -> None:
    refusal = "the kernel refused offload on lb0: libbpf: prog 'l4lb': failed\n" + "\n".join(
        f"libbpf: detail {n}" for n in range(7)
    )
    fake.fail_next("attach", refusal)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 1)
        dashboard(pilot).action_set_mode("generic")
        await settle(pilot)
        said = notifications(app)[-1].message
        assert "\n" not in said and said.endswith("(i: the details)"), said
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, RefusalScreen)
        assert "libbpf: detail 6" in str(app.screen.query_one("#details", Static).render())
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, RefusalScreen)


async def test_a_typed_path_previews_on_tab_and_ctrl_s_applies_it(fake: FakeBackend) -> None:
    for keys in (("tab",), ("ctrl+s",)):
        app = make_app(FakeBackend.demo())
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("l")
            screen = app.screen
            assert isinstance(screen, LoadScreen)
            box = screen.query_one("#path", Input)
            box.value = str(DATA / "32_destinations.csv")  # as typed, no Enter
            await pilot.pause()
            await pilot.press(*keys)
            await settle(pilot)
            if keys == ("tab",):
                summary = str(screen.query_one("#summary", Static).render())
                assert "32 destinations, no errors" in summary, summary
                await pilot.press("ctrl+s")
                await settle(pilot)
            assert not isinstance(app.screen, LoadScreen), keys
            said = [n.message for n in notifications(app)]
            assert not any("pick a file without errors" in m for m in said), said


async def test_the_load_dialog_opens_at_the_last_file(fake: FakeBackend, tmp_path: Path) -> None:
    saved = tmp_path / "lab.csv"
    saved.write_text((DATA / "32_destinations.csv").read_text())
    settings = replace(manual(), start_file=saved)  # what `--netns LAB-lb` finds
    app = ConsoleApp(fake, "lb0", settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LoadScreen)
        assert screen.query_one("#path", Input).value == str(saved)
        assert "32 destinations" in str(screen.query_one("#summary", Static).render())


def test_help_headings_are_never_cut() -> None:
    console = Console(width=76, record=True)  # the help box at 80 columns
    console.print(help_table(ConsoleApp.BINDINGS))
    text = console.export_text()
    for title, _ in sections(ConsoleApp.BINDINGS):
        assert title in text, title
    assert "…" not in text.split("Dashboard")[0]


async def test_a_removed_namespace_is_told(fake: FakeBackend) -> None:
    app = ConsoleApp(fake, "lb0", manual(), netns="i14a-never-made")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.check_netns()
        app.check_netns()  # said once
        await pilot.pause()
        said = [n.message for n in notifications(app) if "namespace" in n.message]
        assert len(said) == 1 and "i14a-never-made was removed" in said[0], said
