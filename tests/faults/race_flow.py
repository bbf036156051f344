"""Console edits racing other writers on the real kernel, run as a child process.

    python -m tests.faults.race_flow FLOW IFNAME

The process enters $L4LB_FLOW_NETNS first, before anything starts a thread
(see console_flow.py).  The other writer is the real CLI, run in this
namespace as a child, or a Balancer of this process: each at a moment the
flow makes certain (a dialog held open, or a hook right after the console's
write has read the kernel's lists), never by timing.  A writer that says it
succeeded must find its change in the kernel afterwards.
"""

from __future__ import annotations

import os
import sys

from l4lb_tui.netlink import enter_netns

if __name__ == "__main__" and os.environ.get("L4LB_FLOW_NETNS"):
    enter_netns(os.environ["L4LB_FLOW_NETNS"])  # before the imports below start threads

import asyncio
import contextlib
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Static

from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.widgets.tables import BackendTable
from tests.faults.console_flow import check, console, keys, notices, step

ROOT = Path(__file__).parents[2]
SERVICE = "10.0.0.4:9000/udp"
KEY = ServiceKey("10.0.0.4", 9000, 17)
ADDED = ("10.3.0.1", "02:00:00:03:00:01")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `l4lb` in this namespace, without --wait: a locked interface refuses."""
    argv = [sys.executable, "-m", "l4lb_tui.cli", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)  # noqa: S603


def cli_add(
    ifname: str, ip: str = ADDED[0], mac: str = ADDED[1]
) -> subprocess.CompletedProcess[str]:
    return cli("backend", "add", "-i", ifname, "--vip", SERVICE, "--ip", ip, "--mac", mac)


def seen(pilot: Pilot[object]) -> str:
    """What the operator saw, for a failed check (whichever screen is on top)."""
    return f"notices {notices(pilot)}, screens {[type(s).__name__ for s in pilot.app.screen_stack]}"


def kernel(ifname: str) -> dict[str, tuple[int, bool]]:
    """IP -> (weight, draining) of the service, read apart from the console."""
    state = Balancer(ifname).state()
    return {b.ip: (b.weight, b.draining) for s in state.services for b in s.backends}


async def pick(pilot: Pilot[object], nth: int) -> str:
    """Highlight the nth backend of the table; its IP."""
    table = pilot.app.screen.query_one(BackendTable)
    table.move_cursor(row=nth)
    await pilot.pause()
    state = pilot.app.screen.state  # type: ignore[attr-defined]
    slot = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
    return next(b.ip for s in state.services for b in s.backends if str(b.index) == slot)


@contextlib.contextmanager
def after_first_read(hook: Callable[[], None]) -> Iterator[list[bool]]:
    """Run `hook` once, right after the next read of the kernel's service
    lists by this process (the console's write: polls are manual here)."""
    real = Balancer._snapshot
    fired: list[bool] = []

    def read(self: Balancer) -> object:
        snap = real(self)
        if not fired:
            fired.append(True)
            hook()
        return snap

    Balancer._snapshot = read  # type: ignore[method-assign,assignment]
    try:
        yield fired
    finally:
        Balancer._snapshot = real  # type: ignore[method-assign]


async def open_editor(pilot: Pilot[object], nth: int) -> tuple[str, EditorScreen]:
    ip = await pick(pilot, nth)
    await pilot.press("e")
    editor = pilot.app.screen
    check(isinstance(editor, EditorScreen), f"e did not open the editor: {seen(pilot)}")
    assert isinstance(editor, EditorScreen)
    return ip, editor


def weight_box(editor: EditorScreen) -> Input:
    return editor.query_one("#weight", Input)


async def type_weight(pilot: Pilot[object], editor: EditorScreen, weight: int) -> None:
    box = weight_box(editor)
    box.value = ""
    box.focus()
    await pilot.press(*str(weight))


async def cli_between_read_and_write(pilot: Pilot[object], ifname: str) -> None:
    """A CLI `backend add` lands right after the console's edit has read the
    lists and before it writes: no one who said 'done' lost their change."""
    ip, editor = await open_editor(pilot, 1)
    await type_weight(pilot, editor, 7)
    outcome: list[subprocess.CompletedProcess[str]] = []
    with after_first_read(lambda: outcome.append(cli_add(ifname))) as fired:
        said = await keys(pilot, "enter")
    check(bool(fired) and len(outcome) == 1, f"the CLI did not run in between: {seen(pilot)}")
    res = outcome[0]
    step(f"CLI in between: status {res.returncode} {res.stderr.strip()!r}; console said {said}")
    now = kernel(ifname)
    console_ok = any(n.startswith(f"edit {ip}") for n in said)
    check(console_ok or any("another writer" in n for n in said), f"console: {seen(pilot)}")
    if console_ok:
        check(now[ip][0] == 7, f"the console said done, the kernel has {now[ip]}")
    if res.returncode == 0:
        check(
            ADDED[0] in now, f"the CLI said done, but {ADDED[0]} is gone: the console overwrote it"
        )
    else:
        check("in use by PID" in res.stderr, f"the CLI was refused without a reason: {res.stderr}")
        step("the CLI was told the interface is in use: it tries again")
        again = cli_add(ifname)
        check(again.returncode == 0, again.stderr)
    now = kernel(ifname)
    check(ADDED[0] in now and now[ip][0] == 7, f"an edit is missing: {now.get(ip)}")
    step("neither edit lost")


async def cli_while_confirm_open(pilot: Pilot[object], ifname: str) -> None:
    """The delete's question is open when the CLI adds a backend: the delete
    goes ahead, the CLI's backend stays, and the console says the list changed."""
    ip = await pick(pilot, 2)
    await pilot.press("d")
    await pilot.pause()
    res = cli_add(ifname, "10.3.0.2", "02:00:00:03:00:02")
    check(res.returncode == 0, res.stderr)
    said = await keys(pilot, "y")
    now = kernel(ifname)
    check(ip not in now and "10.3.0.2" in now, f"after the delete: {sorted(now)} {seen(pilot)}")
    check(any("another writer" in n for n in said), f"not told of the other writer: {said}")
    step(f"delete with the CLI's add in between: both kept; said {said}")


async def two_writers_one_backend(pilot: Pilot[object], ifname: str) -> None:
    """The editor is open on a backend whose weight another writer changes."""
    ip, editor = await open_editor(pilot, 3)
    shown = int(weight_box(editor).value)
    Balancer(ifname).set_weight(KEY, ip, shown + 4)
    await type_weight(pilot, editor, 3)
    said = await keys(pilot, "enter")
    check(kernel(ifname)[ip][0] == shown + 4, f"a stale edit was written: {kernel(ifname)[ip]}")
    check(any("changed since you opened this" in n for n in said), f"not told: {seen(pilot)}")
    step(f"stale edit refused: {said}")

    step("the editor opened again shows the other writer's weight")
    ip, editor = await open_editor(pilot, 3)
    check(weight_box(editor).value == str(shown + 4), f"shows {weight_box(editor).value}")
    step("another writer changes it while the editor is open: a poll refreshes the editor")
    Balancer(ifname).set_weight(KEY, ip, shown + 5)
    pilot.app.screen_stack[-2].poll_now()  # type: ignore[attr-defined]
    await keys(pilot)
    check(weight_box(editor).value == str(shown + 5), f"stale: {weight_box(editor).value}")
    note = str(editor.query_one("#changed-note", Static).render())
    check("another writer" in note, f"the editor did not say why it changed: {note!r}")
    await type_weight(pilot, editor, 8)
    said = await keys(pilot, "enter")
    check(kernel(ifname)[ip][0] == 8, f"the edit made on fresh values was refused: {said}")
    step(f"edit on the refreshed values applied: {said}")


async def undo_after_another_writer(pilot: Pilot[object], ifname: str) -> None:
    """Undo never puts back what another writer changed since."""
    ip = await pick(pilot, 4)
    before = kernel(ifname)[ip]
    await keys(pilot, "x")
    check(kernel(ifname)[ip] == (before[0], True), f"not drained: {seen(pilot)}")
    res = cli("backend", "weight", "-i", ifname, "--vip", SERVICE, "--ip", ip, "--weight", "9")
    check(res.returncode == 0, res.stderr)
    said = await keys(pilot, "u")
    check(kernel(ifname)[ip] == (9, True), f"undo overwrote the CLI: {kernel(ifname)[ip]}")
    check(any("cannot undo" in n and "another writer" in n for n in said), f"{seen(pilot)}")
    step(f"undo of a backend changed since: refused, {said}")

    other = await pick(pilot, 5)
    await keys(pilot, "x")
    res = cli_add(ifname, "10.3.0.3", "02:00:00:03:00:03")
    check(res.returncode == 0, res.stderr)
    said = await keys(pilot, "u")
    now = kernel(ifname)
    check(not now[other][1], f"undo did not undrain {other}: {now[other]} {said}")
    check("10.3.0.3" in now, f"undo removed the CLI's backend: {said}")
    step(f"undo beside an unrelated change: applied, the other change kept: {said}")


FLOWS: dict[str, Callable[[Pilot[object], str], Awaitable[None]]] = {
    "between": cli_between_read_and_write,
    "confirm": cli_while_confirm_open,
    "two_writers": two_writers_one_backend,
    "undo": undo_after_another_writer,
}


def main() -> None:
    name, ifname = sys.argv[1:3]
    flow = FLOWS[name]
    asyncio.run(console(ifname, lambda pilot: flow(pilot, ifname)))
    print("flow: ok", flush=True)


if __name__ == "__main__":
    main()
