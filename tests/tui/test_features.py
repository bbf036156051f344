"""The dashboard's operator features on frozen data: sort, a backend's
detail, the event log (and a second console reading the first one's
edits), --readonly, redo, the refresh rate and pause, the health column
and the daemon's line, and the running state saved as a config."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.text import Text
from textual.widgets import Input
from tui_support import SIZE, dashboard, make_app, manual, polls, settle

from l4lb_tui import events
from l4lb_tui.app import ConsoleApp
from l4lb_tui.console_daemon import DaemonView, Drift
from l4lb_tui.console_demo import DEMO_SERVICE, FakeBackend
from l4lb_tui.health_status import HealthEntry
from l4lb_tui.screens.dashboard_features import SaveConfigScreen
from l4lb_tui.screens.detail import DetailScreen
from l4lb_tui.screens.events import EventLogScreen, EventTable
from l4lb_tui.screens.help import sections
from l4lb_tui.textual_compat import notifications
from l4lb_tui.viewmodels.health_rows import NONE
from l4lb_tui.widgets.daemon_bar import DaemonBar
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.tables import BackendTable

SVC = str(DEMO_SERVICE)


def plain(value: object) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def column(table: BackendTable, key: str) -> list[str]:
    """A column's cells in the order the table shows them."""
    return [plain(table.get_row_at(n)[table.get_column_index(key)]) for n in range(table.row_count)]


def pps(table: BackendTable) -> list[int]:
    return [int(v.replace(",", "") or 0) for v in column(table, "pps")]


def header(table: BackendTable, key: str) -> str:
    return next(plain(c.label) for k, c in table.columns.items() if k.value == key)


def bar(app: ConsoleApp) -> str:
    return str(app.screen.query_one(DaemonBar).render())


def footer_keys(app: ConsoleApp) -> set[str]:
    screen = app.screen
    return {b.description for _, b, enabled, _ in screen.active_bindings.values() if b.show}


async def test_sorted_by_pkts_per_second_busiest_first_and_by_any_column(
    fake: FakeBackend,
) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 3)
        table = app.screen.query_one(BackendTable)
        assert pps(table) == sorted(pps(table), reverse=True) and len(set(pps(table))) > 3
        assert header(table, "pps") == "pkts/s ▼" and header(table, "bps") == "bits/s"
        assert "sort pkts/s descending" in bar(app)
        await pilot.press("greater_than_sign")  # htop's >: the next column
        bps = [int(v.replace(",", "")) for v in column(table, "bps")]
        assert bps == sorted(bps, reverse=True)
        assert header(table, "bps") == "bits/s ▼" and header(table, "pps") == "pkts/s"
        assert "mac" not in table.shown_columns  # at 160 columns: `<` passes it over
        await pilot.press(*["less_than_sign"] * 3, "I")  # back through pps, weight
        assert header(table, "ip") == "IP ▼"  # ip ascending, turned over
        ips = column(table, "ip")
        assert ips == sorted(ips, key=lambda ip: tuple(int(p) for p in ip.split(".")))[::-1]
        await polls(pilot, 2)  # new rates keep the order asked for
        assert column(table, "ip") == ips


async def test_the_highlight_follows_its_backend_through_a_resort(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 2)
        table = app.screen.query_one(BackendTable)
        await pilot.press("g", "j")  # among the busy rows, whose order wobbles
        picked = table.current_key
        moved = False
        for _ in range(10):
            before = [table.coordinate_to_cell_key((n, 0)).row_key.value for n in range(8)]
            await polls(pilot, 1)
            after = [table.coordinate_to_cell_key((n, 0)).row_key.value for n in range(8)]
            moved |= before.index(picked) != after.index(picked)
            assert table.current_key == picked
        assert moved, "the wobbling rates never moved the highlighted row"


async def test_enter_opens_the_backends_detail(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 12)
        screen = dashboard(pilot)
        picked = screen._selected()
        assert picked is not None
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        d = detail.shown
        assert d is not None and d.row.ip == picked[1].ip
        assert len(d.pps) == 2 and len(d.bps) == 2  # 11 rates: two 5-second points
        assert detail.ring is not None and 0 < detail.ring < 1
        summary = str(detail.query_one("#summary").render())
        assert picked[1].ip in summary and "share of the ring" in summary
        assert "totals since its slot was loaded" in summary
        changes = str(detail.query_one("#changes").render())
        assert "first seen: weight" in changes
        await pilot.press("escape")
        assert app.screen is screen


async def test_event_log_shows_this_console_and_another_writer(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    first, second = FakeBackend.demo(), FakeBackend.demo()
    first.events_path = second.events_path = log
    events.record(events.Event(time.time(), "cli", "attach lb0", "lb0", pid=1, user="ann"), log)
    app1, app2 = make_app(first), make_app(second)
    async with app1.run_test(size=SIZE) as pilot1:
        await polls(pilot1, 1)
        picked = dashboard(pilot1)._selected()
        assert picked is not None
        await pilot1.press("x")  # drain, from the first console
        await settle(pilot1)
        await pilot1.press("u")
        await settle(pilot1)
    found = events.read(log)
    assert [e.who for e in found] == ["cli", "console", "console"]
    assert found[1].what.startswith(f"drain {picked[1].ip} of {SVC}")
    assert found[2].what.startswith(f"undo: drain {picked[1].ip}")
    assert found[1].pid == os.getpid() and found[1].interface == "lb0"
    async with app2.run_test(size=SIZE) as pilot2:
        await settle(pilot2)
        await pilot2.press("E")
        await settle(pilot2)
        assert isinstance(app2.screen, EventLogScreen)
        table = app2.screen.query_one(EventTable)
        whats = [plain(table.get_row_at(n)[4]) for n in range(table.row_count)]
        assert whats[0].startswith("undo: drain") and whats[-1] == "attach lb0"
        assert plain(table.get_row_at(2)[1]) == "cli ann pid 1"
        await pilot2.press("escape")
        await settle(pilot2)
        assert app2.screen is dashboard(pilot2)


async def test_readonly_offers_and_does_no_write(fake: FakeBackend) -> None:
    fake.readonly = True
    settings = manual()
    from dataclasses import replace

    app = ConsoleApp(fake, "lb0", replace(settings, readonly=True))
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 1)
        shown = footer_keys(app)
        assert {"Filter", "Sort", "Events"} <= shown
        assert not shown & {"Add", "Edit", "Delete", "Drain", "Undo", "Mode", "Load CSV"}
        for key in ("x", "d", "a", "e", "u", "m", "l", "ctrl+r"):
            await pilot.press(key)
            await settle(pilot)
            assert app.screen is dashboard(pilot), f"{key} opened {app.screen}"
        assert fake.writes == []
        palette = {c.name for c in dashboard(pilot).palette_commands()}
        assert "Events" in palette and not palette & {"Drain", "Detach", "Redo"}
        listed = {b.description for _, found in sections(app.BINDINGS, True) for b in found}
        assert {"Events", "Sort", "Filter"} <= listed
        assert not listed & {"Drain", "Undo", "Redo", "Add", "Mode", "Load CSV"}
        everything = {b.description for _, found in sections(app.BINDINGS) for b in found}
        assert {"Drain", "Redo", "Detail", "Faster", "Save config"} <= everything


async def test_redo_after_undo(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 1)
        screen = dashboard(pilot)
        picked = screen._selected()
        assert picked is not None and not picked[1].draining
        ip = picked[1].ip

        def drained() -> bool:
            state = fake.state("lb0")
            assert state is not None
            return next(b.draining for s in state.services for b in s.backends if b.ip == ip)

        await pilot.press("ctrl+r")
        assert "nothing to redo" in notifications(app)[-1].message
        await pilot.press("x")
        await settle(pilot)
        assert drained()
        await pilot.press("u")
        await settle(pilot)
        assert not drained() and len(screen.redo_stack) == 1
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert drained() and screen.redo_stack == []
        assert notifications(app)[-1].message.startswith(f"redo: drain {ip}")
        assert screen.undo_stack[-1].summary == f"drain {ip} of {SVC}"
        await pilot.press("u")  # the redo is undone like the change it redid
        await settle(pilot)
        assert not drained()
        await pilot.press("j", "x")  # a new change: what was undone stays undone
        await settle(pilot)
        assert screen.redo_stack == []


async def test_refresh_rate_and_pause_are_shown(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 1)
        screen = dashboard(pilot)
        assert screen.refresh_interval is None  # the tests poll by hand
        await pilot.press("minus")
        assert screen.refresh_interval == 2.0 and "refresh 2 s" in bar(app)
        await pilot.press("plus", "plus", "plus")
        assert screen.refresh_interval == 0.25 and "refresh 0.25 s" in bar(app)
        await pilot.press("plus")  # the fastest there is
        assert screen.refresh_interval == 0.25
        await pilot.press("p")
        assert "PAUSED" in bar(app) and screen._interval() is None
        await pilot.press("p")
        assert "PAUSED" not in bar(app) and screen._interval() == 0.25
        await pilot.press("minus")
        await settle(pilot)


def health(ip: str, status: str, result: str, ok: bool) -> HealthEntry:
    return HealthEntry("lb0", "", SVC, ip, status, result, ok, 0.8, time.time())


async def test_health_column_and_drift_marker(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 1)
        table = app.screen.query_one(BackendTable)
        assert set(column(table, "health")) == {NONE}  # no daemon
        assert "no daemon" in bar(app)
        checks = {
            (SVC, "10.0.1.1"): health("10.0.1.1", "up", "connected", True),
            (SVC, "10.0.1.2"): health("10.0.1.2", "down", "refused", False),
            (SVC, "10.0.1.3"): health("10.0.1.3", "rising", "connected", True),
        }
        fake.daemon = DaemonView(4242, "/etc/l4lb/l4lb.toml", False, checks, Drift())
        await polls(pilot, 1)
        by_ip = dict(zip(column(table, "ip"), column(table, "health"), strict=True))
        assert by_ip["10.0.1.1"] == "up 0.8 ms"
        assert by_ip["10.0.1.2"] == "down refused"
        assert by_ip["10.0.1.3"] == "rising 0.8 ms"
        assert by_ip["10.0.1.4"] == NONE
        assert "daemon 4242" in bar(app) and "as configured" in bar(app)
        fake.daemon = DaemonView(
            4242, "/etc/l4lb/l4lb.toml", False, checks, Drift(("  ~ service x:", "      ~ y"))
        )
        await polls(pilot, 1)
        assert "DRIFT" in bar(app)
        fake.daemon = DaemonView(4242, "/etc/l4lb/l4lb.toml", True, checks, None)
        await polls(pilot, 1)
        assert set(column(table, "health")) == {NONE} and "gone" in bar(app)


async def test_save_running_state_as_config(fake: FakeBackend, tmp_path: Path) -> None:
    fake.exported = "# l4lb export of the running balancers\n[[balancer]]\n"
    app = make_app(fake, start_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 1)
        await pilot.press("S")
        assert isinstance(app.screen, SaveConfigScreen)
        assert app.screen.query_one(Input).value == str(tmp_path / "l4lb-running.toml")
        await pilot.press("enter")
        await settle(pilot)
        saved = tmp_path / "l4lb-running.toml"
        assert saved.read_text() == fake.exported
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        await pilot.press("S")
        app.screen.query_one(Input).value = str(fifo)
        await pilot.press("enter")
        await settle(pilot)
        assert "not a regular file" in notifications(app)[-1].message
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "l4lb-running.toml"]
        assert isinstance(app.screen.query_one(KeyFooter), KeyFooter)
