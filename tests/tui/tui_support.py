"""Console test helpers: a frozen FakeBackend, an app that polls only when told.

Polling is manual here (intervals None) so every test, and every snapshot,
sees exactly the samples it asked for: no clocks, no races.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from l4lb_tui.app import ConsoleApp
from l4lb_tui.console import ConsoleSettings, FakeBackend
from l4lb_tui.screens.dashboard import DashboardScreen

DATA = Path(__file__).parent / "data"
SIZE = (160, 45)
CONSOLE_WORKERS = {"poll", "write", "links", "preview", "neighbour"}


def manual(start_dir: Path = DATA) -> ConsoleSettings:
    return ConsoleSettings(poll_interval=None, links_interval=None, start_dir=start_dir)


def make_app(
    fake: FakeBackend, interface: str | None = "lb0", start_dir: Path = DATA
) -> ConsoleApp:
    return ConsoleApp(fake, interface, manual(start_dir))


async def settle(pilot: Pilot[object]) -> None:
    """Let every worker finish and every message they posted be handled.

    A write's result starts a poll, whose result may start nothing more:
    three rounds cover the longest chain the screens make.
    """
    for _ in range(3):
        # Only the console's own workers: DirectoryTree keeps a loader running.
        for worker in [w for w in pilot.app.workers if w.group in CONSOLE_WORKERS]:
            with contextlib.suppress(WorkerCancelled):  # superseded by a newer one
                await worker.wait()
        await pilot.pause()


def dashboard(pilot: Pilot[object]) -> DashboardScreen:
    for screen in reversed(pilot.app.screen_stack):
        if isinstance(screen, DashboardScreen):
            return screen
    raise AssertionError("no dashboard open")


async def polls(pilot: Pilot[object], count: int) -> None:
    """Drive `count` dashboard polls, one after the other, as the timer would."""
    screen = dashboard(pilot)
    for _ in range(count):
        screen.poll_now()
        await settle(pilot)
