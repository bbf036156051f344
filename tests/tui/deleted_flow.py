"""The console on a balancer whose interface is deleted under it, run as a
child process in a namespace (as kernel_flow.py does, and for its reason).

    python tests/tui/deleted_flow.py NETNS IFNAME

The balancer is attached and loaded by the CLI before; here the console
opens its dashboard, the link is deleted, and the console must say so:
no rates as if it moved packets, no running dot, no mode claimed, and its
Detach removes the pins as 'l4lb detach -i IFNAME' does.
"""

from __future__ import annotations

import sys

from l4lb_tui.netlink import enter_netns

if __name__ == "__main__":
    enter_netns(sys.argv[1])  # before the imports below: textual may start threads

import asyncio
import subprocess

from textual.widgets import OptionList, Static
from tui_support import SIZE, dashboard, settle

from l4lb_tui import pinning
from l4lb_tui.app import ConsoleApp
from l4lb_tui.console_backend import ConsoleSettings
from l4lb_tui.console_kernel import RealBackend
from l4lb_tui.locate import current_netns
from l4lb_tui.netlink import Netlink
from l4lb_tui.screens.confirm import ConfirmScreen
from l4lb_tui.screens.mode import ModeScreen
from l4lb_tui.textual_compat import notifications
from l4lb_tui.widgets.header import DashboardHeader
from l4lb_tui.widgets.tables import BackendTable


def step(text: str) -> None:
    print(f"step: {text}", flush=True)


def check(ok: bool, what: str) -> None:
    if not ok:
        raise AssertionError(what)


def cell(table: BackendTable, row: int, column: str) -> str:
    value = table.get_row_at(row)[[c.key for c in BackendTable.COLUMNS].index(column)]
    return str(getattr(value, "plain", value)).strip()


def our_pins(ifname: str) -> list[str]:
    cookie = current_netns(Netlink()).cookie
    return [
        str(p.path)
        for p in pinning.in_namespace(cookie)
        if p.record is not None and p.record.answers_to(ifname)
    ]


async def deleted_flow(ifname: str) -> None:
    settings = ConsoleSettings(poll_interval=None, links_interval=None)
    app = ConsoleApp(RealBackend(), ifname, settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = dashboard(pilot)
        await asyncio.sleep(1.2)  # a second poll, a second on: rates
        screen.poll_now()
        await settle(pilot)
        check(screen.state is not None, f"no balancer read: {screen.link}")
        table = screen.query_one(BackendTable)
        check(table.row_count == 32, f"{table.row_count} rows")
        check(cell(table, 0, "pps") != "\u2013", "no rate before the link went")
        check(bool(our_pins(ifname)), "no pins to begin with")

        step("delete the link; the next poll fails")
        subprocess.run(["ip", "link", "del", "dev", ifname], check=True)  # noqa: S603
        screen.poll_now()
        await settle(pilot)
        check(screen.stale, "the poll after the deletion did not fail")
        header = str(screen.query_one(DashboardHeader).render())
        print(f"header: {header!r}", flush=True)
        check("●" not in header, f"a running dot on a deleted link: {header!r}")
        check("\u2013 pkts/s" in header, f"the header's total is not a dash: {header!r}")
        rates = {cell(table, n, c) for n in range(table.row_count) for c in ("pps", "bps", "share")}
        check(rates == {"\u2013"}, f"rates still shown: {sorted(rates)[:5]}")

        step("m claims no mode")
        await pilot.press("m")
        await settle(pilot)
        check(isinstance(app.screen, ModeScreen), f"m opened {app.screen}")
        title = str(app.screen.query_one("Vertical > Static", Static).render())
        print(f"mode title: {title!r}", flush=True)
        check("now: unknown" in title, f"the mode screen claims a mode: {title!r}")
        current = [
            str(o.prompt)
            for o in app.screen.query_one(OptionList)._options
            if "current" in str(o.prompt)
        ]
        check(not current, f"an option is marked current: {current}")

        step("Detach removes the pins, as 'l4lb detach -i' does")
        app.screen.query_one(OptionList).highlighted = 3  # Detach
        await pilot.press("enter")
        await settle(pilot)
        check(isinstance(app.screen, ConfirmScreen), f"Detach asked nothing: {app.screen}")
        await pilot.press("y")
        await settle(pilot)
        said = [n.message for n in notifications(app)]
        print(f"notices: {said}", flush=True)
        check(not our_pins(ifname), f"pins left: {our_pins(ifname)}; {said}")
        check(any("removed its pins" in n for n in said), f"detach said {said}")
        await pilot.press("q")


if __name__ == "__main__":
    asyncio.run(deleted_flow(sys.argv[2]))
    print("flow: ok", flush=True)
