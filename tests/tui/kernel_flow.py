"""Console flows against the real kernel, run as a child process in a namespace.

    python tests/tui/kernel_flow.py FLOW NETNS IFNAME PEER WORKDIR

The process enters the namespace first, before anything can start a thread
(threads keep the namespace they were born in), then drives the real
console (RealBackend: bpftool and netlink) with Pilot, from the keyboard.
Any failed check raises: the parent test reads the exit code and output.
"""

from __future__ import annotations

import sys

from l4lb_tui.netlink import enter_netns

if __name__ == "__main__":
    enter_netns(sys.argv[2])  # before the imports below: textual may start threads

import asyncio
import os
import socket
import struct
import threading
import time
import weakref
from pathlib import Path
from typing import Any, TypeVar

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input
from tui_support import SIZE, dashboard, settle

from l4lb_tui import events
from l4lb_tui.app import ConsoleApp
from l4lb_tui.balancer import Balancer
from l4lb_tui.console_backend import ConsoleError, ConsoleSettings
from l4lb_tui.console_kernel import RealBackend
from l4lb_tui.destinations import parse_text
from l4lb_tui.lock import interface_lock
from l4lb_tui.netlink import Netlink
from l4lb_tui.screens.dashboard import DashboardScreen
from l4lb_tui.screens.detail import DetailScreen
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.screens.events import EventLogScreen, EventTable
from l4lb_tui.textual_compat import notifications
from l4lb_tui.widgets.tables import BackendTable, LinkTable

AppT = TypeVar("AppT", bound=App[Any])

NEIGHBOUR_IP = "10.0.0.99"
NEIGHBOUR_MAC = "02:00:00:00:00:99"


def step(text: str) -> None:
    print(f"step: {text}", flush=True)


def check(ok: bool, what: str) -> None:
    if not ok:
        raise AssertionError(what)


def rows(pilot: Pilot[object]) -> dict[str, tuple[int, str, str, int]]:
    """IP -> (slot, service, MAC, weight), as the kernel's maps hold them now."""
    state = dashboard(pilot).state
    check(state is not None, "no balancer state")
    assert state is not None
    return {
        b.ip: (b.index, str(s.key), b.mac, b.weight) for s in state.services for b in s.backends
    }


def kernel(ifname: str) -> dict[str, tuple[int, bool]]:
    """IP -> (weight, draining), read by Balancer.state() itself, not by the console."""
    state = Balancer(ifname).state()
    return {b.ip: (b.weight, b.draining) for s in state.services for b in s.backends}


def weight_cell(pilot: Pilot[object], ip: str) -> str:
    table = pilot.app.screen.query_one(BackendTable)
    slot = rows(pilot)[ip][0]
    cell = table.get_cell(str(slot), "weight")
    return str(getattr(cell, "plain", cell)).strip()


async def load_csv(pilot: Pilot[object], path: Path, services: str) -> None:
    await pilot.press("l")
    await settle(pilot)
    box = pilot.app.screen.query_one("#path", Input)
    if box.value != str(path):  # the screen opens on the last file loaded
        box.value = str(path)  # typed key by key, a long path costs seconds
        box.focus()
        await pilot.press("enter")
        await settle(pilot)
    pilot.app.screen.query_one("#services", Input).value = services
    await pilot.press("ctrl+s")
    await settle(pilot)


_SAID: weakref.WeakKeyDictionary[App[object], list[str]] = weakref.WeakKeyDictionary()


def recorded(app: AppT) -> AppT:
    """`app`, keeping every message it notifies from now on: a toast times
    out (5 s by default), so on a loaded machine the ones a step looks for
    can be gone, and the count of those before it wrong, by the time it looks."""
    said: list[str] = []
    notify = app.notify

    def keep(message: str, *args: Any, **kwargs: Any) -> None:
        said.append(message)
        notify(message, *args, **kwargs)

    app.notify = keep  # type: ignore[method-assign]
    _SAID[app] = said
    return app


def notices(pilot: Pilot[object]) -> list[str]:
    """Every message notified so far (only those still shown if `pilot.app`
    is not `recorded`)."""
    said = _SAID.get(pilot.app)
    return list(said) if said is not None else [n.message for n in notifications(pilot.app)]


async def pick_and_attach(pilot: Pilot[object], ifname: str, min_links: int, links: str) -> None:
    """From the interfaces screen: filter, open `ifname`'s bare dashboard,
    attach in driver mode."""
    step(f"interfaces: filter and pick {ifname}")
    count = pilot.app.screen.query_one(LinkTable).row_count
    check(count >= min_links, f"expected {links}, got {count}")
    await pilot.press("slash", *ifname, "enter", "enter")
    await settle(pilot)
    check(isinstance(pilot.app.screen, DashboardScreen), "Enter did not open the dashboard")
    check(dashboard(pilot).state is None, f"a balancer already runs on {ifname}")

    step("attach in driver mode")
    await pilot.press("m", "enter")
    await settle(pilot)
    state = dashboard(pilot).state
    check(state is not None and state.mode == "driver", f"not attached: {notices(pilot)}")
    said = " ".join(notices(pilot))
    check("flow table: 524,288 flows (512k), 18 MiB" in said, f"no table size in {said}")


async def edit_flow(ifname: str, workdir: Path) -> None:
    app = recorded(
        ConsoleApp(
            RealBackend(),
            None,
            ConsoleSettings(poll_interval=None, links_interval=None, start_dir=workdir),
        )
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pick_and_attach(pilot, ifname, 3, "lo and the veth pair")

        step("offload is refused with the kernel's words, nothing changes")
        # A veth cannot offload: the menu does not offer it; the palette does.
        dashboard(pilot).action_set_mode("offload")
        await settle(pilot)
        check(any("cannot offload XDP" in n for n in notices(pilot)), f"{notices(pilot)}")
        state = dashboard(pilot).state
        check(state is not None and state.mode == "driver", "offload refusal changed the mode")

        step("load a CSV into a new service; undo removes the service")
        csv = workdir / "32_destinations.csv"
        await load_csv(pilot, csv, "10.0.0.4:8080/tcp")
        check(len(rows(pilot)) == 32, f"{len(rows(pilot))} backends after load: {notices(pilot)}")
        await pilot.press("u")
        await settle(pilot)
        services = Balancer(ifname).state().services
        check(services == (), f"undo left {[str(s.key) for s in services]}: {notices(pilot)}")

        step("load it again")
        await load_csv(pilot, csv, "10.0.0.4:8080/tcp")
        before = rows(pilot)
        check(len(before) == 32, f"{len(before)} backends after load: {notices(pilot)}")
        check(app.screen.query_one(BackendTable).row_count == 32, "table does not show 32")

        step("edit a backend's weight: every slot stays")
        await pilot.press("j", "j", "e")
        editor = app.screen
        check(isinstance(editor, EditorScreen), "e did not open the editor")
        ip = editor.query_one("#ip", Input).value
        weight = editor.query_one("#weight", Input)
        weight.value = ""
        weight.focus()
        await pilot.press("7", "enter")
        await settle(pilot)
        after = rows(pilot)
        check(after[ip][3] == 7, f"weight not written: {after[ip]}")
        check(
            {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()},
            "an edit moved backends to other slots",
        )

        step("drain the backend, undrain it, drain it and undo")
        await pilot.press("x")
        await settle(pilot)
        check(
            kernel(ifname)[ip] == (7, True), f"not drained: {kernel(ifname)[ip]} {notices(pilot)}"
        )
        check(weight_cell(pilot, ip) == "7 drain", f"table shows {weight_cell(pilot, ip)!r}")
        others = {k: v for k, v in kernel(ifname).items() if k != ip}
        check(not any(d for _, d in others.values()), "another backend was drained")
        check(rows(pilot)[ip][0] == before[ip][0], "drain moved the backend to another slot")
        await pilot.press("x")
        await settle(pilot)
        check(kernel(ifname)[ip] == (7, False), f"not undrained: {kernel(ifname)[ip]}")
        check(weight_cell(pilot, ip) == "7", f"table shows {weight_cell(pilot, ip)!r}")
        await pilot.press("x")
        await settle(pilot)
        check(kernel(ifname)[ip] == (7, True), "second drain failed")
        await pilot.press("u")
        await settle(pilot)
        check(kernel(ifname)[ip] == (7, False), f"undo left {kernel(ifname)[ip]}")

        step("redo the drain, undo the redo")
        await pilot.press("ctrl+r")
        await settle(pilot)
        check(kernel(ifname)[ip] == (7, True), f"redo did not drain again: {notices(pilot)}")
        await pilot.press("u")
        await settle(pilot)
        check(kernel(ifname)[ip] == (7, False), f"undoing the redo left {kernel(ifname)[ip]}")

        step("the event log holds this console's changes, and E shows them")
        mine = [e for e in events.read() if e.who == "console" and e.pid == os.getpid()]
        said = [e.what for e in mine]
        for words in (f"drain {ip}", f"undrain {ip}", f"undo: drain {ip}", f"redo: drain {ip}"):
            check(any(w.startswith(words) for w in said), f"no {words!r} in {said}")
        check(any("driver" in w for w in said), f"the attach is not in {said}")
        check(all(e.interface == ifname for e in mine), "an event names another interface")
        await pilot.press("E")
        await settle(pilot)
        check(isinstance(app.screen, EventLogScreen), "E did not open the event log")
        log = app.screen.query_one(EventTable)
        newest = str(log.get_row_at(0)[4])
        check(newest.startswith(f"undo: drain {ip}"), f"newest event {newest!r}")
        await pilot.press("escape")
        await settle(pilot)

        step("Enter: the backend's detail, its share of the live service's ring")
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        check(isinstance(detail, DetailScreen), "Enter did not open the detail")
        assert isinstance(detail, DetailScreen)
        check(detail.ring is not None and 0 < detail.ring < 0.2, f"ring share {detail.ring}")
        await pilot.press("escape")
        await settle(pilot)

        step("delete a backend, undo, delete again")
        await pilot.press("d", "y")
        await settle(pilot)
        check(len(rows(pilot)) == 31 and ip not in rows(pilot), "delete did not remove it")
        await pilot.press("u")
        await settle(pilot)
        check(ip in rows(pilot), "undo did not bring it back")
        await pilot.press("d", "y")
        await settle(pilot)
        check(len(rows(pilot)) == 31, "second delete failed")

        step("add a backend with the MAC offered by the neighbour table")
        await pilot.press("a", "tab", *NEIGHBOUR_IP)
        await settle(pilot)
        hint = str(app.screen.query_one("#mac-hint").render())
        check(NEIGHBOUR_MAC in hint, f"neighbour MAC not offered: {hint!r}")
        await pilot.press("tab", "right", "ctrl+s")
        await settle(pilot)
        check(rows(pilot)[NEIGHBOUR_IP][2] == NEIGHBOUR_MAC, "added backend missing")

        step("save the list as CSV")
        target = workdir / "saved.csv"
        await pilot.press("s")
        box = app.screen.query_one(Input)
        box.value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        parsed = parse_text(target.read_text())
        check(not parsed.errors and len(parsed.destinations) == 32, "saved file is wrong")

        step("switch to generic and back, then detach")
        await pilot.press("m", "j", "enter")
        await settle(pilot)
        state = dashboard(pilot).state
        check(state is not None and state.mode == "generic", f"{notices(pilot)}")
        await pilot.press("m", "k", "enter")  # the list opens on the current mode
        await settle(pilot)
        state = dashboard(pilot).state
        check(state is not None and state.mode == "driver", f"{notices(pilot)}")
        pins = Balancer(ifname).pin_dir
        await pilot.press("m", "end", "enter", "y")  # Detach: the last choice
        await settle(pilot)
        check(dashboard(pilot).state is None, f"still attached after detach: {notices(pilot)}")
        check(not pins.exists(), "pins left behind")
        await pilot.press("q")


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def _frame(dst_mac: bytes, src_mac: bytes, sport: int) -> bytes:
    payload = b"x" * 18
    udp = struct.pack("!HHHH", sport, 9000, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        1,
        0,
        64,
        17,
        0,
        socket.inet_aton("10.0.0.2"),
        socket.inet_aton("10.0.0.4"),
    )
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def _send(peer: str, src: str, dst_mac: str, stop: threading.Event) -> None:
    """UDP to the VIP from the peer end, about 2,000 frames a second."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((peer, 0))
        frames = [
            _frame(bytes.fromhex(dst_mac.replace(":", "")), bytes.fromhex(src.replace(":", "")), p)
            for p in range(20000, 20064)
        ]
        while not stop.is_set():
            for frame in frames:
                sock.send(frame)
            time.sleep(0.03)


async def poll_after(pilot: Pilot[object], seconds: float) -> None:
    await asyncio.sleep(seconds)
    dashboard(pilot).poll_now()
    await settle(pilot)


async def live_checks(pilot: Pilot[object], ifname: str) -> None:
    """Rates, flow counters, and a drain under traffic (the sender is running)."""
    for _ in range(3):
        await poll_after(pilot, 1.0)
    view = dashboard(pilot).view
    check(view is not None and view.total.pps > 500, f"no live rate: {view and view.total}")
    assert view is not None
    busy = [r for r in view.rows if r.rate.pps > 0]
    check(len(busy) > 8, f"traffic reached only {len(busy)} backends")
    header = str(pilot.app.screen.query_one("DashboardHeader").render())
    check("pkts/s" in header and "10.0.0.4:9000/udp" in header, header)
    flows = view.flows
    check(0 < flows["new"] < flows["hit"], f"flow counters: {flows}")
    check(f"hit {flows['hit']:,}" in header and "frag-needed" in header, header)
    step(f"live: {view.total.pps:,.0f} pkts/s over {len(busy)} backends, flows {flows}")

    target = busy[0]
    table = pilot.app.screen.query_one(BackendTable)
    table.move_cursor(row=table.get_row_index(str(target.index)))
    await pilot.press("x")
    await settle(pilot)
    check(kernel(ifname)[target.ip] == (target.weight, True), f"{kernel(ifname)[target.ip]}")
    await poll_after(pilot, 0.3)  # a full interval after the drain
    await poll_after(pilot, 1.0)
    view = dashboard(pilot).view
    assert view is not None
    row = next(r for r in view.rows if r.ip == target.ip)
    check(row.draining and row.rate.pps > 0, f"established flows stopped: {row}")
    step(f"drained {target.ip}: its established flows go on at {row.rate.pps:,.0f} pkts/s")
    await pilot.press("x")
    await settle(pilot)
    check(kernel(ifname)[target.ip] == (target.weight, False), "undrain failed")


async def running_flow(ifname: str, peer: str, macs: tuple[str, str]) -> None:
    """The balancer was started by the CLI: the console shows it and its rates."""
    app = recorded(ConsoleApp(RealBackend(), ifname, ConsoleSettings(None, None, Path.cwd())))
    stop = threading.Event()
    sender = threading.Thread(target=_send, args=(peer, *macs, stop), daemon=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        step("existing balancer: backends from the pinned maps")
        table = app.screen.query_one(BackendTable)
        check(table.row_count == 32, f"{table.row_count} rows")
        check(dashboard(pilot).state is not None, "no state")
        sender.start()
        try:
            await live_checks(pilot, ifname)
        finally:
            stop.set()
            sender.join()
        await pilot.press("q")


async def readonly_flow(ifname: str) -> None:
    """--readonly beside a writer that holds the interface's lock: it polls,
    sorts and shows, offers no write, and refuses one asked of it directly."""
    backend = RealBackend(readonly=True)
    settings = ConsoleSettings(None, None, Path.cwd(), readonly=True)
    app = recorded(ConsoleApp(backend, ifname, settings))
    before = kernel(ifname)
    with interface_lock(Balancer(ifname).pin_dir.name):  # held by "another writer"
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            step("read-only: the table, polled while another writer holds the lock")
            await pilot.press("greater_than_sign")
            dashboard(pilot).poll_now()
            await settle(pilot)
            check(app.screen.query_one(BackendTable).row_count == 32, "rows missing")
            check(not dashboard(pilot).stale, f"the poll failed: {notices(pilot)}")
            step("read-only: no key writes, and a write asked directly is refused")
            for key in ("x", "d", "u", "a", "m", "l"):
                await pilot.press(key)
                await settle(pilot)
                check(isinstance(app.screen, DashboardScreen), f"{key} opened {app.screen}")
            try:
                backend.edit(ifname, {})
            except ConsoleError as exc:
                check("read-only" in str(exc), f"refused for another reason: {exc}")
            else:
                raise AssertionError("a read-only console wrote")
            await pilot.press("q")
    check(kernel(ifname) == before, "the balancer changed")


def main() -> None:
    flow, _ns, ifname, peer, workdir = sys.argv[1:6]
    if flow == "edit":
        asyncio.run(edit_flow(ifname, Path(workdir)))
    elif flow == "readonly":
        asyncio.run(readonly_flow(ifname))
    elif flow == "running":
        # /sys is the host's, so ask netlink; and before the event loop runs,
        # as pyroute2's synchronous socket refuses to start inside one.
        macs = (Netlink().link(peer).mac, Netlink().link(ifname).mac)
        asyncio.run(running_flow(ifname, peer, macs))
    else:
        raise SystemExit(f"unknown flow {flow}")
    print("flow: ok", flush=True)


if __name__ == "__main__":
    main()
