"""Issue 14, the tester's second round: each finding on frozen data."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import events
from textual.widgets import Input, Static
from tui_support import dashboard, make_app, settle

from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.screens.events import EventLogScreen, EventTable
from l4lb_tui.widgets.daemon_bar import DaemonBar
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.tables import BackendTable

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


async def test_sort_steps_over_shown_columns_only_with_arrows_and_header_names(
    fake: FakeBackend,
) -> None:
    """Tester's 5: `>` reached hidden columns at 80, Share had no arrow, the
    status line named columns by internal keys."""
    app = make_app(fake)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = dashboard(pilot)
        table = screen.query_one(BackendTable)
        shown = table.shown_columns
        assert "mac" not in shown and "spark" not in shown
        seen = []
        for _ in range(len(shown)):
            await pilot.press("greater_than_sign")
            await pilot.pause()
            seen.append(screen.backend_sort.column)
        assert set(seen) == set(shown), seen
        while screen.backend_sort.column != "share":
            await pilot.press("greater_than_sign")
        await pilot.pause()
        share = next(c for k, c in table.columns.items() if k.value == "share")
        assert "▼" in plain(share.label) and len(plain(share.label)) <= share.width
        line = str(screen.query_one(DaemonBar).render())
        assert "sort Share descending" in line, line
        while screen.backend_sort.column != "num":
            await pilot.press("greater_than_sign")
        await pilot.pause()
        assert "sort # ascending" in str(screen.query_one(DaemonBar).render())


async def test_detail_and_save_config_footers_show_their_own_keys(fake: FakeBackend) -> None:
    """Tester's 4: the dashboard's keys showed under these two dialogs."""
    app = make_app(fake)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        for key, closes in (("enter", "Close"), ("S", "Cancel")):
            await pilot.press(key)
            await settle(pilot)
            footers = list(app.screen.query(KeyFooter))
            assert footers, f"{key}: {type(app.screen).__name__} has no footer of its own"
            shown = footers[0].shown
            assert closes in shown and "Drain" not in shown, shown
            await pilot.press("escape")
            await settle(pilot)


async def test_hash_column_is_the_slot_the_detail_names(fake: FakeBackend) -> None:
    """Tester's 3: `#` was a row count (renumbered when a service came) while
    the detail said 'slot N': both now show the slot."""
    app = make_app(fake)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        table = dashboard(pilot).query_one(BackendTable)
        state = fake.sample("lb0").state
        assert state is not None
        slots = {b.ip: b.index for s in state.services for b in s.backends}
        for n in range(table.row_count):
            cells = [plain(c) for c in table.get_row_at(n)]
            ip = cells[table.shown_columns.index("ip")]
            assert cells[0] == str(slots[ip]), (cells, slots[ip])
        picked = dashboard(pilot)._selected()
        assert picked is not None
        await pilot.press("enter")
        await settle(pilot)
        summary = str(app.screen.query_one("#summary", Static).render())
        assert f"slot {picked[1].index}" in summary


async def test_a_tab_right_after_a_moves_to_the_ip_field(fake: FakeBackend) -> None:
    """Tester's 6: a Tab pressed as the add form opened was lost, and the IP
    typed next went into the service field."""
    app = make_app(fake)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        # Posted all at once, as a terminal delivers a fast typist's keys:
        # pilot.press would wait for each to be handled.
        for key, char in [("a", "a"), ("tab", "\t")] + [
            (c if c != "." else "full_stop", c) for c in "10.0.1.77"
        ]:
            app.post_message(events.Key(key, char))
        await settle(pilot)
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        assert editor.query_one("#service", Input).value == "10.0.0.4:8080/tcp"
        assert editor.query_one("#ip", Input).value == "10.0.1.77", [
            (w.id, getattr(w, "value", None)) for w in editor.query(Input)
        ]


async def test_help_and_palette_name_keys_as_typed(fake: FakeBackend) -> None:
    """Tester's 11: help showed `greater_than_sign`, `plus`; said Enter opens
    or edits; the palette listed Sort, Detail, Events... with no key."""
    from rich.console import Console

    from l4lb_tui.app import ConsoleApp
    from l4lb_tui.screens.help import help_table
    from l4lb_tui.screens.palette import shown_key

    console = Console(width=120, record=True)
    console.print(help_table(ConsoleApp.BINDINGS))
    text = console.export_text()
    for raw in ("greater_than_sign", "less_than_sign", "plus", "minus", "open / edit"):
        assert raw not in text, raw
    app = make_app(fake)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        listed = {c.name: c.key for c in dashboard(pilot).palette_commands()}
        for name in (
            "Detail",
            "Sort",
            "Sort back",
            "Invert sort",
            "Events",
            "Faster",
            "Save config",
        ):
            assert listed.get(name), (name, listed)
        assert shown_key(listed["Sort"]) == ">" and shown_key(listed["Faster"]) == "+"


async def test_drift_comes_first_on_the_line_at_80_columns(fake: FakeBackend) -> None:
    """Tester's 12: '… /etc/l4lb/l4lb.toml · as' cut the drift state off."""
    from l4lb_tui.console_daemon import DaemonView, Drift

    drift = Drift(("  ~ service 10.0.0.4:8080/tcp:", "      ~ 10.0.1.3 weight 1 -> 2"))
    fake.daemon = DaemonView(4242, "/etc/l4lb/l4lb.toml", False, {}, drift)
    app = make_app(fake)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        bar = dashboard(pilot).query_one(DaemonBar)
        seen = str(bar.render())[: bar.content_region.width]
        assert seen.startswith("DRIFT: 1 change from the config"), seen


def test_sighup_names_the_namespace_only_when_it_is_gone(monkeypatch: object) -> None:
    """Tester's 14: a plain `kill -HUP` said '(... being removed?)'."""
    import signal

    import pytest

    from l4lb_tui import app as app_module

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(app_module, "netns_exists", lambda name: True)
    said = app_module.leaving_message(signal.SIGHUP, "h14a-lb")
    assert "(it ran in namespace h14a-lb)" in said and "removed" not in said, said
    monkeypatch.setattr(app_module, "netns_exists", lambda name: False)
    said = app_module.leaving_message(signal.SIGHUP, "h14a-lb")
    assert "namespace h14a-lb: removed" in said, said


async def test_a_deleted_interface_shows_no_running_dot_nor_old_rates(fake: FakeBackend) -> None:
    """Tester's 8: after the interface was deleted the header kept '● Driver'
    and the last rates, with only STALE added."""
    from tui_support import polls

    from l4lb_tui.viewmodels.backend_rows import NO_RATE
    from l4lb_tui.widgets.header import DashboardHeader

    app = make_app(fake)
    async with app.run_test(size=SMALL) as pilot:
        await polls(pilot, 2)
        header = dashboard(pilot).query_one(DashboardHeader)
        assert "●" in str(header.render())
        fake.remove_link("lb0")
        await polls(pilot, 1)
        shown = str(header.render())
        assert "STALE" in shown and "●" not in shown, shown
        assert f"total   {NO_RATE} pkts/s" in shown, shown


async def test_save_dialogs_say_what_saving_there_does(fake: FakeBackend, tmp_path: Path) -> None:
    """Tester's 9: `s` to a FIFO said 'will be replaced'; `S` to a symlink
    said 'refused', though saving follows links."""
    import os

    fifo, real, link = tmp_path / "fifo", tmp_path / "real.toml", tmp_path / "link.toml"
    os.mkfifo(fifo)
    real.write_text("")
    link.symlink_to(real)
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        for key, path, expected in (
            ("s", fifo, "not a regular file (a named pipe): nothing was saved"),
            ("S", link, f"a link to {real}"),
        ):
            await pilot.press(key)
            await settle(pilot)
            app.screen.query_one("#path", Input).value = str(path)
            await pilot.pause()
            note = str(app.screen.query_one("#note", Static).render())
            assert expected in note, (key, note)
            await pilot.press("escape")
            await settle(pilot)


async def test_a_failed_save_is_not_the_last_file(fake: FakeBackend, tmp_path: Path) -> None:
    """Tester's 9: `s` to /proc/version failed, and the next `l` opened there."""
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        screen = dashboard(pilot)
        before = screen.csv_path
        await pilot.press("s")
        await settle(pilot)
        app.screen.query_one("#path", Input).value = str(tmp_path / "no-such-dir" / "x.csv")
        await pilot.press("enter")
        await settle(pilot)
        assert screen.csv_path == before
        await pilot.press("s")
        await settle(pilot)
        app.screen.query_one("#path", Input).value = str(tmp_path / "ok.csv")
        await pilot.press("enter")
        await settle(pilot)
        assert (tmp_path / "ok.csv").is_file() and screen.csv_path == tmp_path / "ok.csv"


async def test_event_log_f_keeps_the_history_under_old_names(fake: FakeBackend) -> None:
    """Tester's 7: after a rename, `f` hid what happened under the old name."""
    app = make_app(fake)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        fake.journal("drain 10.0.1.1 of 10.0.0.4:8080/tcp", "lb0")
        fake.journal("attach lb1", "lb1")
        screen = dashboard(pilot)
        screen.ifname = screen.sub_title = "lb9"  # as a poll does when it finds a rename
        fake.journal("undrain 10.0.1.1 of 10.0.0.4:8080/tcp", "lb9")
        await pilot.press("E")
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        table = app.screen.query_one(EventTable)
        whats = [plain(table.get_row_at(n)[4]) for n in range(table.row_count)]
        assert any(w.startswith("drain 10.0.1.1") for w in whats), whats
        assert any(w.startswith("undrain 10.0.1.1") for w in whats), whats
        assert "attach lb1" not in whats


async def test_a_terminal_too_small_for_any_row_says_so(fake: FakeBackend) -> None:
    """Tester's 13: at 40x10 `e` said 'out of sight: it is shown now, press
    again' on every press, and never showed it."""
    from l4lb_tui.textual_compat import notifications

    app = make_app(fake)
    async with app.run_test(size=(40, 10)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        said = notifications(app)[-1].message
        assert "press again" not in said and "taller" in said, said
        assert not isinstance(app.screen, EditorScreen)


async def test_detail_charts_count_from_zero_in_k_and_m(fake: FakeBackend) -> None:
    """Tester's 10: the detail's y axes read '5656.0 … 2415.6', '2895872.0'."""
    import re

    from tui_support import prefill

    from l4lb_tui.screens.detail import RateChart

    app = make_app(fake)
    async with app.run_test(size=(160, 45)) as pilot:
        await prefill(pilot, 12)
        await pilot.press("enter")
        await settle(pilot)
        for chart in app.screen.query(RateChart):
            drawn = chart.plt.build()
            plain_text = re.sub(r"\x1b\[[0-9;]*m", "", drawn)
            axis = [ln.split("┤")[0].strip() for ln in plain_text.splitlines() if "┤" in ln]
            assert axis and axis[-1] == "0", axis
            assert not any(re.search(r"\d\.\d", label) and len(label) > 5 for label in axis), axis
            assert any(label.endswith(("k", "M")) for label in axis), axis


async def test_detail_changes_scroll_at_80x24(fake: FakeBackend) -> None:
    """Tester's 10: at 80x24 'Seen by this console' was cut off and ↓ did
    not scroll it."""
    from textual.containers import VerticalScroll

    from l4lb_tui.screens.detail import DetailScreen

    app = make_app(fake)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        for _ in range(6):  # drain, undrain...: a change the detail lists each time
            await pilot.press("x")
            await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        box = app.screen.query_one("#changes-box", VerticalScroll)
        assert box.max_scroll_y > 0
        await pilot.press("down", "down")
        await pilot.pause()
        assert box.scroll_y > 0
