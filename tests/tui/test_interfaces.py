"""The interfaces screen: every link, live, filtered, picked with Enter."""

from __future__ import annotations

from tui_support import SIZE, make_app, settle

from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.netlink import LinkInfo
from l4lb_tui.screens.dashboard import DashboardScreen
from l4lb_tui.screens.interfaces import InterfacesScreen
from l4lb_tui.widgets.status import StatusLine
from l4lb_tui.widgets.tables import LinkTable


def row_text(table: LinkTable, key: str) -> list[str]:
    return [c.plain if hasattr(c, "plain") else str(c) for c in table.get_row(key)]


async def test_lists_every_link_with_its_xdp_state(fake: FakeBackend) -> None:
    app = make_app(fake, None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(LinkTable)
        assert table.row_count == 5
        lb0 = row_text(table, "lb0")
        assert lb0[:2] == ["lb0", "UP"]
        assert lb0[3:] == ["veth", "02:00:00:00:00:03", "10.0.0.4/24", "driver", "42", "no", "l4lb"]
        assert row_text(table, "nfp0")[8] == "yes"  # nfp can offload
        assert [table.coordinate_to_cell_key((r, 0)).row_key.value for r in range(5)] == [
            "lo",
            "eth0",
            "lb0",
            "lb1",
            "nfp0",
        ]  # kernel (ifindex) order


async def test_filter_then_enter_opens_dashboard(fake: FakeBackend) -> None:
    app = make_app(fake, None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", "v", "e", "t", "h")
        table = app.screen.query_one(LinkTable)
        assert table.row_count == 2  # lb0 and lb1 are veths
        await pilot.press("enter")  # back to the table, filter kept
        assert table.has_focus and table.row_count == 2
        await pilot.press("j", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert app.screen.ifname == "lb1"


async def test_escape_clears_filter(fake: FakeBackend) -> None:
    app = make_app(fake, None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", "z", "z", "z")
        table = app.screen.query_one(LinkTable)
        assert table.row_count == 0
        await pilot.press("escape")
        assert table.row_count == 5 and table.has_focus


async def test_links_come_and_go_live(fake: FakeBackend) -> None:
    app = make_app(fake, None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, InterfacesScreen)
        fake.remove_link("lb1")
        fake.add_link(
            LinkInfo("tap9", 9, "02:00:00:00:00:09", 1500, "UP", True, "tun", "tun", "", 0)
        )
        screen.refresh_now()
        await settle(pilot)
        table = screen.query_one(LinkTable)
        keys = {table.coordinate_to_cell_key((r, 0)).row_key.value for r in range(table.row_count)}
        assert "lb1" not in keys and "tap9" in keys


async def test_problems_and_errors_show_on_the_status_line(fake: FakeBackend) -> None:
    fake.problems = ["not root: interfaces are listed, but the balancer needs sudo"]
    fake.fail_next("links", "listing links: Operation not permitted")
    app = make_app(fake, None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = app.screen.query_one(StatusLine)
        assert status.messages == (
            "not root: interfaces are listed, but the balancer needs sudo",
            "listing links: Operation not permitted",
        )
        await pilot.press("r")
        await settle(pilot)
        assert len(status.messages) == 1
        assert app.screen.query_one(LinkTable).row_count == 5


async def test_q_quits_leaving_the_balancer_alone(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert fake.writes == []  # nothing detached on the way out
