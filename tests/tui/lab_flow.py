"""Issue 4's operator flow on the real lab, run as a child process in the LB namespace.

    python tests/tui/lab_flow.py NETNS IFNAME CSV VIP HTTP_PORT UDP_PORT BACKENDS WORKDIR

BACKENDS is `name=ip,name=ip,...` (the lab's backends).  The parent keeps
traffic flowing from the lab's client meanwhile.  Bare lab to balanced
traffic, from the keyboard: pick the interface, attach in driver mode, load
the lab's CSV into the HTTP and UDP services, watch every backend's live
rate, edit one backend's weight, delete another from both services, save,
and quit with the data plane still running.  Any failed check raises.
"""

from __future__ import annotations

import sys

from l4lb_tui.netlink import enter_netns

if __name__ == "__main__":
    enter_netns(sys.argv[1])  # before the imports below: textual may start threads

import asyncio
import time
from pathlib import Path

from kernel_flow import check, load_csv, notices, pick_and_attach, poll_after, recorded, step
from textual.pilot import Pilot
from textual.widgets import Input
from tui_support import SIZE, dashboard, settle

from l4lb_tui.app import ConsoleApp
from l4lb_tui.balancer import Balancer
from l4lb_tui.console_backend import ConsoleSettings
from l4lb_tui.console_kernel import RealBackend
from l4lb_tui.destinations import parse_text
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.stats import BackendRow
from l4lb_tui.widgets.tables import BackendTable

LIVE_DEADLINE = 20.0  # seconds for every backend to show a live rate
NEW_WEIGHT = 2


def live_rows(pilot: Pilot[object]) -> list[BackendRow]:
    view = dashboard(pilot).view
    check(view is not None, "no view on the dashboard")
    assert view is not None
    return list(view.rows)


async def highlight(pilot: Pilot[object], service: str, ip: str) -> None:
    """Put the table's cursor on `ip`'s row of `service`, as the arrow keys would."""
    row = next((r for r in live_rows(pilot) if r.service == service and r.ip == ip), None)
    check(row is not None, f"{ip} of {service} not on the dashboard")
    assert row is not None
    table = pilot.app.screen.query_one(BackendTable)
    table.move_cursor(row=table.get_row_index(str(row.index)))
    await pilot.pause()


async def watch_live(pilot: Pilot[object], services: list[str], ips: dict[str, str]) -> None:
    """Poll as the timer would until every backend of every service moves packets."""
    deadline = time.monotonic() + LIVE_DEADLINE
    idle: list[str] = []
    while time.monotonic() < deadline:
        await poll_after(pilot, 1.0)
        rows = live_rows(pilot)
        rates = {(r.service, r.ip): r.rate.pps for r in rows}
        idle = [f"{n} {s}" for s in services for n, ip in ips.items() if not rates.get((s, ip))]
        if not idle:
            header = str(pilot.app.screen.query_one("DashboardHeader").render())
            check("pkts/s" in header, header)
            shown = ", ".join(
                f"{s} {n} {rates[(s, ip)]:,.1f}" for s in services for n, ip in ips.items()
            )
            step(f"live pkts/s: {shown}")
            return
    raise AssertionError(f"no live rate after {LIVE_DEADLINE:g} s for: {idle}")


async def lab_flow(
    ifname: str, csv: Path, vip: str, http: int, udp: int, ips: dict[str, str], workdir: Path
) -> None:
    app = recorded(
        ConsoleApp(
            RealBackend(),
            None,
            ConsoleSettings(poll_interval=None, links_interval=None, start_dir=workdir),
        )
    )
    tcp_key, udp_key = f"{vip}:{http}/tcp", f"{vip}:{udp}/udp"
    names = list(ips)
    kept, edited, deleted = names[:-1], names[0], names[-1]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pick_and_attach(pilot, ifname, 2, "lo and the lab link")

        step(f"load {csv} into {tcp_key} and {udp_key}")
        await load_csv(pilot, csv, f"{tcp_key}, {udp_key}")
        loaded = {(s, ip) for (_, s, _, _), ip in _pairs(pilot)}
        want = {(s, ip) for s in (tcp_key, udp_key) for ip in ips.values()}
        check(loaded == want, f"loaded {sorted(loaded)}: {notices(pilot)}")

        step("watch live rates")
        await watch_live(pilot, [tcp_key, udp_key], ips)

        step(f"edit {edited}'s weight in {udp_key} to {NEW_WEIGHT}")
        await highlight(pilot, udp_key, ips[edited])
        await pilot.press("e")
        editor = app.screen
        check(isinstance(editor, EditorScreen), "e did not open the editor")
        check(editor.query_one("#ip", Input).value == ips[edited], "editor opened another backend")
        weight = editor.query_one("#weight", Input)
        weight.value = ""
        weight.focus()
        await pilot.press(str(NEW_WEIGHT), "enter")
        await settle(pilot)
        weights = {(s, ip): w for (_, s, _, w), ip in _pairs(pilot)}
        check(weights[(udp_key, ips[edited])] == NEW_WEIGHT, f"not written: {notices(pilot)}")
        check(weights[(tcp_key, ips[edited])] == 1, "the edit changed the other service")

        for key in (udp_key, tcp_key):
            step(f"delete {deleted} from {key}")
            await highlight(pilot, key, ips[deleted])
            await pilot.press("d", "y")
            await settle(pilot)
            left = {ip for (_, s, _, _), ip in _pairs(pilot) if s == key}
            check(left == {ips[n] for n in kept}, f"{key} holds {sorted(left)}: {notices(pilot)}")

        step("the remaining backends still move packets")
        await watch_live(pilot, [tcp_key, udp_key], {n: ips[n] for n in kept})

        step(f"save {udp_key}")
        target = workdir / "saved.csv"
        await highlight(pilot, udp_key, ips[edited])
        await pilot.press("s")
        await settle(pilot)
        box = app.screen.query_one("#path", Input)
        box.value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        check(target.exists(), f"nothing saved: {notices(pilot)}")
        parsed = parse_text(target.read_text())
        saved = {d.ip: d.serving_weight for d in parsed.destinations}
        check(not parsed.errors, f"saved file does not parse: {parsed.errors}")
        expected = {ips[n]: (NEW_WEIGHT if n == edited else 1) for n in kept}
        check(saved == expected, f"saved {saved}, expected {expected}")
        step(f"saved {target}: {target.read_text().strip()!r}")

        step("quit; the data plane keeps running")
        await pilot.press("q")
    state = Balancer(ifname).state()
    check(state.mode == "driver", f"balancer gone after quit: mode {state.mode}")


def _pairs(pilot: Pilot[object]) -> list[tuple[tuple[int, str, str, int], str]]:
    """((slot, service, MAC, weight), IP) of every backend, as the kernel holds them."""
    state = dashboard(pilot).state
    check(state is not None, "no balancer state")
    assert state is not None
    return [
        ((b.index, str(s.key), b.mac, b.weight), b.ip) for s in state.services for b in s.backends
    ]


def main() -> None:
    _ns, ifname, csv, vip, http, udp, backends, workdir = sys.argv[1:9]
    ips = dict(pair.split("=", 1) for pair in backends.split(","))
    asyncio.run(lab_flow(ifname, Path(csv), vip, int(http), int(udp), ips, Path(workdir)))
    print("flow: ok", flush=True)


if __name__ == "__main__":
    main()
