"""Console fault flows against the real kernel, run as a child process.

    python -m tests.faults.console_flow FLOW IFNAME ARG...

With L4LB_FLOW_NETNS set, the process enters that namespace first, before
anything can start a thread (as tests/tui/kernel_flow.py does); without it,
it stays where its launcher put it (`ip netns exec`, or the host as nobody).
Each flow drives the real console (RealBackend) with Pilot from the keyboard
and raises on a failed check: the parent test reads the exit code and output.
"""

from __future__ import annotations

import os
import sys

from l4lb_tui.netlink import enter_netns

if __name__ == "__main__" and os.environ.get("L4LB_FLOW_NETNS"):
    enter_netns(os.environ["L4LB_FLOW_NETNS"])  # before the imports below start threads

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

sys.path.insert(0, str(Path(__file__).parents[1] / "tui"))
from kernel_flow import check, load_csv, notices, recorded, step
from tui_support import SIZE, dashboard, manual, settle

from l4lb_tui.app import ConsoleApp
from l4lb_tui.balancer import Balancer
from l4lb_tui.console_kernel import RealBackend
from l4lb_tui.widgets.status import StatusLine

BPF_DIR = Path(__file__).parents[2] / "bpf"
SERVICE = "10.0.0.4:9000/udp"
Snapshot = tuple[str, tuple[tuple[str, tuple[object, ...]], ...]]


def snapshot(ifname: str) -> Snapshot:
    """Mode and every service's members, as the kernel holds them (read apart from the console)."""
    state = Balancer(ifname).state()
    return state.mode, tuple((str(s.key), s.backends) for s in state.services)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)  # noqa: S603


def status(pilot: Pilot[object]) -> tuple[str, ...]:
    return pilot.app.screen.query_one(StatusLine).messages


def seen(pilot: Pilot[object]) -> str:
    """What the operator saw, for a failed check."""
    screens = [type(s).__name__ for s in pilot.app.screen_stack]
    return f"notices {notices(pilot)}, screens {screens}, status line {status(pilot)}"


async def poll(pilot: Pilot[object]) -> tuple[str, ...]:
    dashboard(pilot).poll_now()
    await settle(pilot)
    return status(pilot)


async def keys(pilot: Pilot[object], *pressed: str, until: str = "") -> list[str]:
    """Press keys, let the writes finish; the notifications they raised.
    With `until`, also wait (30 s at most) for a notification saying it: a
    key's worker can start a screen refresh later, which on a loaded machine
    comes after `settle` has looked and found nothing running."""
    before = len(notices(pilot))
    for key in pressed:
        # Each key once the dialog it is for is up: on a loaded machine a key
        # pressed before its dialog opened goes to the screen below.
        if key == "y":
            await _screen(pilot, "ConfirmScreen")
        await pilot.press(key)
        if key == "m":
            await _screen(pilot, "ModeScreen")
    await settle(pilot)
    deadline = time.monotonic() + 30.0
    while until and not any(until in n for n in notices(pilot)[before:]):
        if time.monotonic() > deadline:
            break
        await pilot.pause(0.1)
        await settle(pilot)
    return notices(pilot)[before:]


async def _screen(pilot: Pilot[object], name: str) -> None:
    """Wait (30 s at most) for the screen `name` on top: a key pressed before
    a dialog has opened (a loaded machine) goes to the screen below."""
    deadline = time.monotonic() + 30.0
    while type(pilot.app.screen).__name__ != name and time.monotonic() < deadline:
        await pilot.pause(0.1)


async def detach_keys(pilot: Pilot[object]) -> list[str]:
    """m, Detach (the last choice), y: each key once its dialog is up; once
    more from the dashboard if a dialog never came (a loaded machine: CI
    under three workers and a tester once saw neither dialog open)."""
    before = len(notices(pilot))
    for _ in range(2):
        await pilot.press("m")
        await _screen(pilot, "ModeScreen")
        await pilot.press("end", "enter")
        await _screen(pilot, "ConfirmScreen")
        if type(pilot.app.screen).__name__ == "ConfirmScreen":
            break
        while type(pilot.app.screen).__name__ not in ("DashboardScreen", "InterfacesScreen"):
            await pilot.press("escape")
    return [*notices(pilot)[before:], *await keys(pilot, "y", until="removed its pins")]


async def console(ifname: str | None, body: Callable[[Pilot[object]], Awaitable[None]]) -> None:
    app = recorded(ConsoleApp(RealBackend(), ifname, manual(Path.cwd())))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await body(pilot)
        await pilot.press("q")


async def locked(pilot: Pilot[object], ifname: str, holder: str, csv: str) -> None:
    """Another writer holds the lock: every change is refused with its PID, nothing changes."""
    before = snapshot(ifname)
    check(dashboard(pilot).state is not None, "the balancer started by the CLI is not shown")
    want = f"in use by PID {holder}"
    for what, pressed in (
        ("drain", ("x",)),
        ("attach in generic mode", ("m", "j", "enter")),
        ("detach", ("m", "end", "enter", "y")),
    ):
        said = await keys(pilot, *pressed, until=want)
        check(any(want in n for n in said), f"{what}: {seen(pilot)}")
        check(snapshot(ifname) == before, f"{what} changed the balancer while it was locked")
        step(f"{what}: refused, {next(n for n in said if want in n)!r}")
    count = len(notices(pilot))
    await load_csv(pilot, Path(csv), SERVICE)
    said = notices(pilot)[count:]
    check(any(want in n for n in said), f"load: {seen(pilot)}")
    check(snapshot(ifname) == before, "a load changed the balancer while it was locked")
    step("load: refused")
    # Readers never block: the dashboard still polls the locked interface.
    check(not await poll(pilot) and not dashboard(pilot).stale, f"poll: {seen(pilot)}")
    step("polls go on while locked")


async def faults(pilot: Pilot[object], ifname: str, empty_dir: str) -> None:
    """Missing objects, a stale pin, detached and replaced outside, down,
    renamed and deleted while watched: a message each, never a crash."""
    check(dashboard(pilot).state is None, "a balancer already runs here")

    step("objects not built: attach says how to build them")
    os.environ["L4LB_BPF_DIR"] = empty_dir
    said = await keys(pilot, "m", "enter", until="is not built")
    del os.environ["L4LB_BPF_DIR"]
    check(any("is not built" in n and "clang" in n for n in said), seen(pilot))
    check(not Balancer(ifname).is_loaded(), "pins made without an object")

    step("a stale half-made pin directory: attach recovers")
    pins = Balancer(ifname).pin_dir
    (pins / "maps").mkdir(parents=True)
    said = await keys(pilot, "m", "enter", until="attached to")
    state = dashboard(pilot).state
    check(state is not None and state.mode == "driver", f"not attached: {seen(pilot)}")
    await load_csv(pilot, BPF_DIR.parent / "tests/data/32_destinations.csv", SERVICE)
    before = snapshot(ifname)
    check([len(m) for _, m in before[1]] == [32], f"load failed: {seen(pilot)}")

    step("detached outside the product: a note; m attaches it again, backends kept")
    ip("link", "set", "dev", ifname, "xdp", "off")
    check(any("not attached" in m for m in await poll(pilot)), seen(pilot))
    await keys(pilot, "m", "enter", until="attached to")
    check(snapshot(ifname) == before, f"re-attach lost state: {seen(pilot)}")

    step("replaced by another program: a note; attach is refused, nothing changes")
    ip("link", "set", "dev", ifname, "xdp", "off")
    ip("link", "set", "dev", ifname, "xdpdrv", "obj", str(BPF_DIR / "l4lb_pass.o"), "sec", "xdp")
    check(any("now runs another XDP program" in m for m in await poll(pilot)), seen(pilot))
    said = await keys(pilot, "m", "enter", until="already runs XDP program id")
    check(any("already runs XDP program id" in n for n in said), seen(pilot))
    ip("link", "set", "dev", ifname, "xdp", "off")
    await keys(pilot, "m", "enter", until="attached to")
    check(snapshot(ifname) == before, "state lost after taking the interface back")

    step("interface down: a note")
    ip("link", "set", "dev", ifname, "down")
    check(any(f"{ifname} is down" in m for m in await poll(pilot)), seen(pilot))

    step("renamed while watched: the dashboard follows it, and back again")
    renamed = ifname[:-1] + "z"
    ip("link", "set", "dev", ifname, "name", renamed)
    await poll(pilot)
    board = dashboard(pilot)
    check(board.ifname == renamed and not board.stale, f"not followed: {seen(pilot)}")
    check(board.state is not None and board.state.mode == "driver", seen(pilot))
    check(snapshot(renamed) == before, "the rename changed the balancer")
    ip("link", "set", "dev", renamed, "name", ifname)
    ip("link", "set", "dev", ifname, "up")
    check(not await poll(pilot) and dashboard(pilot).ifname == ifname, seen(pilot))
    check(snapshot(ifname) == before, seen(pilot))

    step("deleted while watched: an error; detach then removes the pins")
    ip("link", "del", "dev", ifname)
    said = await poll(pilot)
    check(any("may have been deleted" in m for m in said), seen(pilot))
    said = await detach_keys(pilot)
    check(any("no longer exists in" in n and "removed its pins" in n for n in said), seen(pilot))
    check(not pins.exists(), "pins left behind")


async def refused(pilot: Pilot[object], ifname: str, expected: str) -> None:
    """Attach is refused with advice (not root; inside `ip netns exec`)."""
    # The palette's "Attach in driver mode": lo's mode menu offers no attach.
    before = len(notices(pilot))
    dashboard(pilot).action_set_mode("driver")
    await settle(pilot)
    said = notices(pilot)[before:]
    check(any(expected in n for n in said), seen(pilot))
    check(dashboard(pilot).state is None, "attached after all")
    step(f"refused: {next(n for n in said if expected in n)!r}")


async def reload(pilot: Pilot[object], ifname: str, csv: str) -> None:
    """Load a file into the service; the parent may SIGKILL this process meanwhile."""
    check(dashboard(pilot).state is not None, "no balancer")
    step("applying")
    start = time.monotonic()
    await load_csv(pilot, Path(csv), SERVICE)
    members = {b.ip for s in Balancer(ifname).state().services for b in s.backends}
    check(len(members) > 0 and not dashboard(pilot).stale, seen(pilot))
    step(f"applied in {time.monotonic() - start:.3f} s")


async def missing(pilot: Pilot[object], ifname: str) -> None:
    """An interface that is not there: said on the status line and on attach."""
    check(any("does not exist" in m for m in status(pilot)), seen(pilot))
    said = await keys(pilot, "m", "enter", until="does not exist")
    check(any(f"interface {ifname} does not exist" in n for n in said), seen(pilot))
    step("missing interface: said, nothing attached")


FLOWS: dict[str, Callable[..., Awaitable[None]]] = {
    "missing": missing,
    "locked": locked,
    "faults": faults,
    "refused": refused,
    "reload": reload,
}


def main() -> None:
    name, ifname, *args = sys.argv[1:]
    flow = FLOWS[name]
    asyncio.run(console(ifname, lambda pilot: flow(pilot, ifname, *args)))
    print("flow: ok", flush=True)


if __name__ == "__main__":
    main()
