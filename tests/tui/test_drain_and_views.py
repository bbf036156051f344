"""Drain and undrain with undo, the one-service view, the flow counters, and
undoing a load into a new service."""

from __future__ import annotations

from collections.abc import Collection

import pytest
from rich.text import Text
from textual.widgets import Input, Static
from tui_support import DATA, SIZE, dashboard, make_app, polls, settle

from l4lb_tui.backend_edits import DropService
from l4lb_tui.console_demo import DEMO_DNS, DEMO_SERVICE, FakeBackend
from l4lb_tui.model import FlowOccupancy
from l4lb_tui.rates import fmt_int
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.screens.load import LoadScreen
from l4lb_tui.textual_compat import notifications
from l4lb_tui.widgets import tables
from l4lb_tui.widgets.tables import BackendTable


def kernel(fake: FakeBackend) -> dict[str, tuple[int, bool]]:
    """IP -> (weight, draining) as the fake balancer holds them now."""
    state = fake.state("lb0")
    assert state is not None
    return {b.ip: (b.weight, b.draining) for s in state.services for b in s.backends}


def weight(table: BackendTable, row: str) -> Text:
    cell = table.get_cell(row, "weight")
    return cell if isinstance(cell, Text) else Text(str(cell))


def header(app: object) -> str:
    return str(app.screen.query_one("DashboardHeader").render())  # type: ignore[attr-defined]


def notices(app: object) -> list[str]:
    return [n.message for n in notifications(app)]


async def test_drain_toggles_and_undo_puts_it_back(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = dashboard(pilot)
        table = screen.query_one(BackendTable)
        assert weight(table, "3").plain.strip() == "2 drain"  # drained, weight kept
        assert weight(table, "5").plain.strip() == "0 drain"  # weight 0 drains too
        assert "yellow" in str(weight(table, "3").style)
        assert weight(table, "0").plain.strip() == "1"

        fake.fail_next("edit", "Error: map update failed: Operation not permitted")
        await pilot.press("x")
        await settle(pilot)
        assert any("Operation not permitted" in n for n in notices(app))
        assert kernel(fake)["10.0.1.1"] == (1, False) and screen.undo_stack == []

        await pilot.press("x")  # the highlighted 10.0.1.1: drained, the rest as it was
        await settle(pilot)
        assert kernel(fake)["10.0.1.1"] == (1, True)
        assert fake.writes == [f"edit lb0 {DEMO_SERVICE} 8"]
        assert weight(table, "0").plain.strip() == "1 drain"
        assert any("drain 10.0.1.1" in n and "established flows stay" in n for n in notices(app))
        assert len(screen.undo_stack) == 1

        await pilot.press("x")  # toggles back
        await settle(pilot)
        assert kernel(fake)["10.0.1.1"] == (1, False)
        assert weight(table, "0").plain.strip() == "1"

        await pilot.press("u")  # undoes the undrain: drained again
        await settle(pilot)
        assert kernel(fake)["10.0.1.1"] == (1, True)
        await pilot.press("u")  # undoes the drain, and every sibling is as it was
        await settle(pilot)
        assert kernel(fake)["10.0.1.1"] == (1, False)
        assert kernel(fake)["10.0.1.4"] == (2, True) and kernel(fake)["10.0.1.6"] == (0, True)
        assert screen.undo_stack == []
        assert fake.writes[-2:] == [f"edit lb0 {DEMO_SERVICE} 8"] * 2


async def test_undrain_weight_zero_and_edit_keeps_drained(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = dashboard(pilot).query_one(BackendTable)
        await pilot.press("j", "j", "j", "e")  # 10.0.1.4: drained at weight 2
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        assert "drained" in str(editor.query_one("#drained-note", Static).render())
        box = editor.query_one("#weight", Input)
        box.value = "5"
        box.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert kernel(fake)["10.0.1.4"] == (5, True)  # the editor did not undrain it
        assert weight(table, "3").plain.strip() == "5 drain"

        await pilot.press("j", "j", "x")  # 10.0.1.6, weight 0: undrain gives weight 1
        await settle(pilot)
        assert kernel(fake)["10.0.1.6"] == (1, False)
        assert any(n.startswith("undrain 10.0.1.6") for n in notices(app))


async def test_service_view_cycles_by_row_key(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeBackend.demo(dns=True)
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = dashboard(pilot).query_one(BackendTable)
        assert table.row_count == 11
        assert "v: one at a time" in header(app)
        added: list[object] = []
        removed: list[object] = []
        real_add, real_remove = table.add_row, tables.remove_rows
        table.add_row = lambda *a, **k: added.append(k["key"]) or real_add(*a, **k)  # type: ignore[method-assign]

        def remove_rows(table: BackendTable, keys: Collection[str]) -> None:
            removed.extend(keys)  # the rows go in one pass (finding R), still by key
            real_remove(table, keys)

        monkeypatch.setattr(tables, "remove_rows", remove_rows)

        await pilot.press("v")
        assert f"service 1 of 2: {DEMO_DNS}" in header(app)
        assert table.row_count == 3 and len(removed) == 8 and added == []
        assert {table.get_cell_at((r, 1)).plain for r in range(3)} == {str(DEMO_DNS)}
        await polls(pilot, 2)  # live updates change cells in place
        assert len(removed) == 8 and added == []

        await pilot.press("v")
        assert f"service 2 of 2: {DEMO_SERVICE}" in header(app)
        assert "this service" in header(app)
        assert table.row_count == 8 and len(removed) == 11 and len(added) == 8
        await pilot.press("a")  # add goes to the service shown
        assert app.screen.query_one("#service", Input).value == "10.0.0.4:8080/tcp"
        await pilot.press("escape")

        await pilot.press("v")  # after the last service: all of them again
        assert f"services {DEMO_DNS}, {DEMO_SERVICE}" in header(app)
        assert table.row_count == 11 and len(added) == 11

        await pilot.press("v")
        fake.edit("lb0", {DEMO_DNS: DropService()})  # the service shown goes away
        await polls(pilot, 1)
        assert dashboard(pilot).scope.current is None and table.row_count == 8
        assert f"services {DEMO_SERVICE}" in header(app)


async def test_header_shows_flow_table_and_icmp_counters(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await polls(pilot, 1)
        view = dashboard(pilot).view
        assert view is not None
        assert set(view.flows) == {"hit", "new", "stale", "stored", "untracked", "reused"}
        assert all(view.flows.values()) and view.other["icmp_frag_needed"] == 4
        text = header(app)
        for name, value in view.flows.items():
            assert f"{name} {fmt_int(value)}" in text
        assert "frag-needed 4" in text
        hits = view.flows["hit"] / sum(view.flows.values())
        assert f"({hits * 100:.1f}% hits)" in text


async def test_a_short_terminal_counts_both_families_flows(fake: FakeBackend) -> None:
    """Under 30 lines `flows N` counted IPv4's only: an IPv6-only balancer
    under load read "flows 0" (t20 LOW-4)."""
    fake.tables = (FlowOccupancy(1 << 19, 100), FlowOccupancy(1 << 16, 50))
    app = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await polls(pilot, 1)
        view = dashboard(pilot).view
        assert view is not None and view.flows6.get("hit")
        both = sum(view.flows.values()) + sum(view.flows6.values())
        hits = (view.flows["hit"] + view.flows6["hit"]) / both
        assert f"flows {fmt_int(both)} ({hits * 100:.1f}% hits)" in header(app)


async def test_undo_of_a_load_into_a_new_service_removes_it(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        assert isinstance(app.screen, LoadScreen)
        app.screen.query_one("#services", Input).value = "10.0.0.5:80/tcp"
        box = app.screen.query_one("#path", Input)
        box.value = str(DATA / "32_destinations.csv")
        box.focus()
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        state = fake.state("lb0")
        assert state is not None and len(state.services) == 2
        await pilot.press("u")
        await settle(pilot)
        assert fake.writes[-1] == "remove lb0 10.0.0.5:80/tcp"
        state = fake.state("lb0")
        assert state is not None and [s.key for s in state.services] == [DEMO_SERVICE]
        assert dashboard(pilot).query_one(BackendTable).row_count == 8
