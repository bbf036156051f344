"""The dashboard at any terminal size, on frozen data: the table keeps its
rows, the chart gives way, columns drop least important first, and no key
acts on a row the operator cannot see (issue 14)."""

from __future__ import annotations

import threading

from textual.pilot import Pilot
from textual.widgets import OptionList
from tui_support import DATA, make_app, polls, settle

from l4lb_tui.console_backend import Sample
from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.screens.interfaces import InterfacesScreen
from l4lb_tui.textual_compat import notifications
from l4lb_tui.viewmodels.backend_rows import NO_RATE
from l4lb_tui.widgets.chart import ThroughputChart
from l4lb_tui.widgets.footer import MORE, KeyFooter
from l4lb_tui.widgets.header import DashboardHeader
from l4lb_tui.widgets.tables import BackendTable, LinkTable

SMALL, MEDIUM, LARGE = (80, 24), (100, 30), (200, 50)


def rows_in_sight(table: BackendTable) -> int:
    return table.scrollable_content_region.height - table.header_height


def chart_shown(pilot: Pilot[object]) -> bool:
    return pilot.app.screen.query_one(ThroughputChart).display


def header(pilot: Pilot[object]) -> str:
    return str(pilot.app.screen.query_one(DashboardHeader).render())


async def test_80x24_keeps_ten_rows_and_the_chart_gives_way() -> None:
    app = make_app(FakeBackend.demo(dns=True))  # 11 backends
    async with app.run_test(size=SMALL) as pilot:
        await polls(pilot, 2)
        table = app.screen.query_one(BackendTable)
        assert not chart_shown(pilot)
        assert rows_in_sight(table) >= 10
        assert "passed" in header(pilot) and "not_vip" not in header(pilot)  # one line
        await pilot.press("c")  # asked for, the chart shows, small
        await pilot.pause()
        assert chart_shown(pilot)
        assert app.screen.query_one(ThroughputChart).size.height >= 8
        await pilot.press("c")
        await pilot.pause()
        assert not chart_shown(pilot) and rows_in_sight(table) >= 10


async def test_bigger_terminals_get_the_chart_and_more_columns() -> None:
    app = make_app(FakeBackend.demo(dns=True))
    async with app.run_test(size=MEDIUM) as pilot:
        await polls(pilot, 2)
        table = app.screen.query_one(BackendTable)
        assert rows_in_sight(table) >= 10
        shown = table.shown_columns
        assert {"ip", "weight", "pps", "bps", "share"} <= set(shown)
        assert "mac" not in shown  # the least important went first
        medium_chart = (
            app.screen.query_one(ThroughputChart).size.height if chart_shown(pilot) else 0
        )
        await pilot.resize_terminal(*LARGE)
        await settle(pilot)
        await pilot.pause()
        assert set(table.shown_columns) == {c.key for c in BackendTable.COLUMNS}
        assert chart_shown(pilot)
        assert app.screen.query_one(ThroughputChart).size.height > medium_chart
        await pilot.resize_terminal(*SMALL)
        await pilot.pause()
        await pilot.pause()
        assert table.shown_columns == ("num", "service", "ip", "weight", "pps", "share")
        assert not chart_shown(pilot)


async def test_keys_never_act_on_a_row_out_of_sight() -> None:
    app = make_app(FakeBackend.demo(dns=True))
    async with app.run_test(size=SMALL) as pilot:
        await polls(pilot, 2)
        table = app.screen.query_one(BackendTable)
        await pilot.press(*"j" * 10)  # the 11th backend
        await pilot.press("c")  # the chart leaves the table 10 rows: still in sight
        await pilot.pause()
        await pilot.pause()
        assert table.cursor_in_view()
        table.scroll_home(animate=False)  # a mouse wheel moves the view, not the row
        await pilot.pause()
        assert not table.cursor_in_view()
        for key in ("e", "d", "x"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen.__class__.__name__ == "DashboardScreen", key
            assert table.cursor_in_view(), key  # brought into sight instead
            assert "out of sight" in notifications(app)[-1].message
            table.scroll_home(animate=False)
            await pilot.pause()
        table.reveal_cursor()
        await pilot.pause()
        picked = app.screen._selected()  # type: ignore[attr-defined]
        assert picked is not None
        await pilot.press("e")  # seen: now it acts
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        assert picked[1].ip in app.screen.request.title


async def test_interfaces_keep_mode_program_and_balancer_at_80_columns() -> None:
    app = make_app(FakeBackend.demo(), None)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, InterfacesScreen)
        table = app.screen.query_one(LinkTable)
        shown = table.shown_columns
        assert {"ifname", "xdp", "prog", "balancer"} <= set(shown)
        assert "mac" not in shown and "driver" not in shown
        width = sum(w + 2 for _, w in table.fitted)
        assert width <= SMALL[0] - 2


async def test_footer_says_there_are_more_keys_and_shows_the_modals() -> None:
    app = make_app(FakeBackend.demo())
    async with app.run_test(size=SMALL) as pilot:
        await polls(pilot, 2)
        footer = app.screen.query_one(KeyFooter)
        assert MORE in footer.shown and footer.shown.rstrip().endswith("^p palette")
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        modal = app.screen.query_one(KeyFooter).shown
        assert "Cancel" in modal and "Delete" not in modal
        await pilot.press("escape")
        await settle(pilot)
        assert "Delete" in app.screen.query_one(KeyFooter).shown


class SlowFirstPoll(FakeBackend):
    """A backend whose first sample waits until the test lets it go."""

    def __init__(self) -> None:
        demo = FakeBackend.demo()
        self.__dict__.update(demo.__dict__)
        self.gate = threading.Event()

    def sample(self, ifname: str) -> Sample:
        self.gate.wait(10)
        return super().sample(ifname)


async def test_reading_until_the_first_poll_answers() -> None:
    backend = SlowFirstPoll()
    app = make_app(backend, "lb0", DATA)
    async with app.run_test(size=MEDIUM) as pilot:
        await pilot.pause()
        text = header(pilot)
        assert "reading…" in text and "no balancer" not in text
        await pilot.press("l")  # nothing to act on yet: said, not a false "attach one"
        await pilot.pause()
        assert "still reading" in notifications(app)[-1].message
        backend.gate.set()
        await settle(pilot)
        text = header(pilot)
        assert "reading…" not in text and "Driver" in text
        assert f"total   {NO_RATE} pkts/s" in text  # one sample: no rate yet, not 0


async def test_share_is_within_the_service_in_the_one_service_view() -> None:
    app = make_app(FakeBackend.demo(dns=True))
    async with app.run_test(size=LARGE) as pilot:
        await polls(pilot, 3)
        await pilot.press("v")
        await settle(pilot)
        table = app.screen.query_one(BackendTable)
        shares = [float(str(c).rstrip("%")) for c in table.get_column("share")]
        assert 3 <= len(shares) < 11
        assert abs(sum(shares) - 100) < 0.5, shares


async def test_palette_shows_keys_and_one_quit_and_ctrl_c_quits() -> None:
    app = make_app(FakeBackend.demo())
    async with app.run_test(size=MEDIUM) as pilot:
        await polls(pilot, 1)
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        listed = app.screen.query_one(OptionList)
        shown = "\n".join(
            str(getattr(o.prompt, "plain", o.prompt))
            for o in (listed.get_option_at_index(n) for n in range(listed.option_count))
        )
        await pilot.press("escape")
        await pilot.pause()
        assert shown.count("Quit") == 1, shown
        assert "Add  a" in shown and "Drain  x" in shown, shown
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_code == 0
