"""Console test helpers: a frozen FakeBackend, an app that polls only when told.

Polling is manual here (intervals None) so every test, and every snapshot,
sees exactly the samples it asked for: no clocks, no races.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from textual.pilot import Pilot
from textual.worker import Worker, WorkerCancelled

from l4lb_tui.app import ConsoleApp
from l4lb_tui.console_backend import ConsoleSettings
from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.screens.dashboard import DashboardScreen

DATA = Path(__file__).parent / "data"
SIZE = (160, 45)
CONSOLE_WORKERS = {"poll", "write", "links", "preview", "neighbour", "events", "detail"}


def manual(start_dir: Path = DATA) -> ConsoleSettings:
    return ConsoleSettings(poll_interval=None, links_interval=None, start_dir=start_dir)


def make_app(
    fake: FakeBackend, interface: str | None = "lb0", start_dir: Path = DATA
) -> ConsoleApp:
    return ConsoleApp(fake, interface, manual(start_dir))


async def settle(pilot: Pilot[object]) -> None:
    """Let every worker finish and every message they posted be handled.

    A write's result starts a poll, whose result may start nothing more: wait
    for the console's workers, let the screen handle what they posted, and
    stop as soon as that started no new worker (at most five rounds).
    """
    for _ in range(5):
        # Only the console's own workers: DirectoryTree keeps a loader running.
        for worker in _running(pilot):
            with contextlib.suppress(WorkerCancelled):  # superseded by a newer one
                await worker.wait()
        await pilot.pause()
        if not _running(pilot):
            return
    raise AssertionError(f"workers still running: {_running(pilot)}")


def _running(pilot: Pilot[object]) -> list[Worker[object]]:
    return [w for w in pilot.app.workers if w.group in CONSOLE_WORKERS and not w.is_finished]


def dashboard(pilot: Pilot[object]) -> DashboardScreen:
    for screen in reversed(pilot.app.screen_stack):
        if isinstance(screen, DashboardScreen):
            return screen
    raise AssertionError("no dashboard open")


async def polls(pilot: Pilot[object], count: int) -> None:
    """Drive `count` dashboard polls, one after the other, as the timer would.

    The poll the dashboard started when it opened is let finish first: a
    poll_now meanwhile would supersede it or not, depending on the timing.
    """
    await settle(pilot)
    screen = dashboard(pilot)
    for _ in range(count):
        screen.poll_now()
        await settle(pilot)


async def prefill(pilot: Pilot[object], count: int) -> None:
    """What `polls(pilot, count)` leaves, fast: the same samples, ingested directly.

    Each sample is what a poll would have fetched, fed to the screen's own
    `_ingest` (rates, history, rows) without the worker and UI round trip;
    the last one is a real poll, which renders it all.  The snapshot of 61
    polls is byte-identical either way.
    """
    await settle(pilot)  # the poll the dashboard starts when it opens
    screen = dashboard(pilot)
    for _ in range(count - 1):
        screen._ingest(screen.backend.sample(screen.ifname))
    await polls(pilot, 1)
