"""The dashboard with frozen data: rates, row-key updates, pause, robustness."""

from __future__ import annotations

import time

import pytest
from tui_support import SIZE, dashboard, make_app, polls, settle

from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.widgets import tables
from l4lb_tui.widgets.status import StatusLine
from l4lb_tui.widgets.tables import BackendTable


def cell(table: BackendTable, row: str, column: str) -> str:
    value = table.get_cell(row, column)
    return value.plain if hasattr(value, "plain") else str(value)


async def test_opens_on_running_balancer_with_live_rates(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(BackendTable)
        assert table.row_count == 8
        assert cell(table, "0", "ip") == "10.0.1.1"
        assert cell(table, "0", "pps").strip() == "\u2013"  # one sample: no rate yet
        await polls(pilot, 1)
        view = dashboard(pilot).view
        assert view is not None
        row = view.rows[3]
        assert cell(table, str(row.index), "pps").strip() == f"{round(row.rate.pps):,}"
        assert "," in cell(table, str(row.index), "bps")  # thousands separators
        assert cell(table, "5", "weight").strip() == "0 drain"


async def test_rows_updated_by_key_not_rebuilt(
    fake: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(BackendTable)
        added: list[object] = []
        removed: list[object] = []
        real_add = table.add_row
        table.add_row = lambda *a, **k: added.append(k) or real_add(*a, **k)  # type: ignore[method-assign]
        # Stale rows go in one remove_rows pass (finding R): count its keys.
        monkeypatch.setattr(tables, "remove_rows", lambda table, keys: removed.extend(keys))
        await pilot.press("j", "j")
        picked = table.current_key
        await polls(pilot, 5)
        assert added == [] and removed == []
        # The highlight stays on the backend the operator put it on, wherever
        # the sort (pkts/s, busiest first) moves its row.
        assert table.current_key == picked
        sparks = cell(table, "2", "spark")
        assert len(sparks) == 30 and sparks.strip()


async def test_sparkline_and_chart_fill_over_time(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 20)
        screen = dashboard(pilot)
        assert len(screen.feed.history.total_pps) == 20
        assert len(screen.feed.history.top(5)) == 5
        spark = cell(screen.query_one(BackendTable), "1", "spark")
        assert spark.startswith(" ") and not spark.endswith(" ")


async def test_pause_stops_polling_and_resume_polls(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 2)
        screen = dashboard(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert screen.paused
        assert "PAUSED" in str(screen.query_one("DashboardHeader").render())
        taken = screen.feed._prev.taken_at if screen.feed._prev else 0
        await pilot.press("p")
        await settle(pilot)
        assert not screen.paused
        assert screen.feed._prev is not None and screen.feed._prev.taken_at > taken


async def test_interface_disappearing_is_a_message_not_a_crash(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 2)
        fake.remove_link("lb0")
        await polls(pilot, 1)
        status = app.screen.query_one(StatusLine)
        assert any("does not exist" in m for m in status.messages)
        assert status.is_error
        assert "STALE" in str(app.screen.query_one("DashboardHeader").render())
        await pilot.press("p", "p", "j")  # still answers keys
        await settle(pilot)
        assert app.screen.query_one(BackendTable).row_count == 8  # last data kept


async def test_bpftool_failure_then_recovery(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        fake.fail_next("sample", "bpftool not found: install it with 'apt-get install bpftool'")
        await polls(pilot, 1)
        status = app.screen.query_one(StatusLine)
        assert "bpftool not found" in status.messages[0]
        await polls(pilot, 1)
        assert status.messages == ()


async def test_program_replaced_by_someone_else(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        fake.replace_program("lb0", 777)
        await polls(pilot, 1)
        notes = app.screen.query_one(StatusLine).messages
        assert any("another XDP program (id 777" in m for m in notes)
        header = str(app.screen.query_one("DashboardHeader").render())
        assert "Detached" in header


async def test_no_balancer_says_how_to_start(fake: FakeBackend) -> None:
    app = make_app(fake, "lb1")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "no balancer" in str(app.screen.query_one("DashboardHeader").render())
        await pilot.press("a")  # needs a balancer: warns, opens nothing
        await settle(pilot)
        assert type(app.screen).__name__ == "DashboardScreen"


async def test_filter_backends(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", "1", ".", "7")
        table = app.screen.query_one(BackendTable)
        assert table.row_count == 1
        await pilot.press("escape")
        assert table.row_count == 8
        await pilot.press("escape")  # second Esc goes back to the interfaces
        await settle(pilot)
        assert type(app.screen).__name__ == "InterfacesScreen"


async def test_512_backends_stay_smooth() -> None:
    fake = FakeBackend.demo(backends=512)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 2)
        screen = dashboard(pilot)
        started = time.perf_counter()
        for _ in range(5):
            screen._redraw()
            await pilot.pause()
        per_render = (time.perf_counter() - started) / 5
        print(f"512 backends: {per_render * 1000:.0f} ms per render")
        assert screen.query_one(BackendTable).row_count == 512
        # One second between polls: a render must leave most of it for typing.
        assert per_render < 0.25, f"{per_render * 1000:.0f} ms per render"
