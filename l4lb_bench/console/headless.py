"""The console headless, under Textual's Pilot in this process: its CPU and
the time from a key press to the first frame that shows the result."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from l4lb_bench.console.cpu import cpu_self, run_queue_wait
from l4lb_bench.console.results import KEY_CLOSE, KEY_DOWN, KEY_HELP, SIZE, Options, Run


async def _wait(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.001)
    return True


@dataclass(frozen=True, slots=True)
class _Frame:
    """One frame the app rendered (headless: composed, not written anywhere)."""

    at: float
    screen: object
    cursor: int  # the backend table's cursor row then


def _record_frames(app: Any, table: Callable[[], int]) -> list[_Frame]:
    """Every frame from now on, with when it was rendered and what it showed.

    Recorded where a rendered update goes to the terminal (the headless
    driver drops it): the first frame that shows a key's result is when the
    operator would see it, whatever the Pilot waits for afterwards.
    """
    from l4lb_tui.textual_compat import record_display

    frames: list[_Frame] = []

    def seen(screen: object, renderable: object) -> None:
        if renderable is not None:
            frames.append(_Frame(time.perf_counter(), screen, table()))

    record_display(app, seen)
    return frames


def run_headless(dev: str, opts: Options) -> Run:
    from textual.widgets import DataTable

    from l4lb_tui.app import ConsoleApp
    from l4lb_tui.console_backend import ConsoleSettings, Sample
    from l4lb_tui.console_kernel import RealBackend

    class Counting(RealBackend):
        """The real backend, counting the samples the dashboard takes."""

        samples = 0

        def sample(self, ifname: str) -> Sample:
            Counting.samples += 1
            return super().sample(ifname)

    app = ConsoleApp(Counting(), dev, ConsoleSettings(poll_interval=1.0))
    run = Run("headless (Pilot)", 0.0, 0.0)

    async def drive() -> None:
        async with app.run_test(headless=True, size=opts.size) as pilot:
            if not await _wait(lambda: Counting.samples >= 2, timeout=30):
                run.problems.append("the dashboard took no samples")
            await asyncio.sleep(0.5)
            run.rows = _rows(app)
            dashboard = app.screen
            start_samples = Counting.samples
            cpu0, t0 = cpu_self(), time.perf_counter()
            await asyncio.sleep(opts.seconds)
            run.cpu, run.seconds = cpu_self() - cpu0, time.perf_counter() - t0
            run.polls = Counting.samples - start_samples
            table = dashboard.query_one(DataTable)
            frames = _record_frames(app, lambda: int(table.cursor_row))

            for i in range(opts.presses):
                # Spread the presses over the refresh cycle.
                await asyncio.sleep(0.37 + 0.11 * (i % 3))
                for key, label in _KEYS:
                    if key == "down":
                        await asyncio.sleep(0.2)
                    if not await _press(pilot, dashboard, frames, key, label, run):
                        return

    try:
        asyncio.run(drive())
    except Exception as exc:  # any failure of the console is a finding, not a crash
        run.problems.append(f"the console failed: {type(exc).__name__}: {exc}")
    return run


_KEYS = (("question_mark", KEY_HELP), ("escape", KEY_CLOSE), ("down", KEY_DOWN))


async def _press(
    pilot: Any, dashboard: Any, frames: list[_Frame], key: str, label: str, run: Run
) -> bool:
    """One key, timed from the press to the first frame that shows its
    result; False if none did."""
    from l4lb_tui.screens.help import HelpScreen

    before = _cursor(pilot.app, dashboard)

    def shows(f: _Frame) -> bool:
        if key == "question_mark":
            return isinstance(f.screen, HelpScreen)
        return f.screen is dashboard and (key != "down" or f.cursor != before)

    del frames[:]  # only the frames after this key count
    q = run_queue_wait(os.getpid())
    t = time.perf_counter()
    await pilot.press(key)
    returned = time.perf_counter() - t
    if not await _wait(lambda: any(shows(f) for f in frames)):
        run.problems.append(f"no frame showed {key}")
        return False
    first = next(f for f in frames if shows(f))
    run.keys.setdefault(label, []).append(first.at - t)
    run.queued.setdefault(label, []).append(run_queue_wait(os.getpid()) - q)
    run.pilot.setdefault(label, []).append(returned)
    return True


def pilot_floor(presses: int) -> list[float]:
    """Pilot.press on an empty app, in seconds: the Pilot's own round trip.

    It waits until the process looks idle (twice) and until the screen has
    handled every queued message, so it returns well after the key's frame.
    """
    from textual.app import App

    times: list[float] = []

    async def drive() -> None:
        async with App[None]().run_test(headless=True, size=SIZE) as pilot:
            await asyncio.sleep(0.2)
            for _ in range(presses):
                t = time.perf_counter()
                await pilot.press("down")
                times.append(time.perf_counter() - t)

    asyncio.run(drive())
    return times


def _cursor(app: Any, screen: Any = None) -> int:
    """Cursor row of the dashboard's backend table (-1 if none)."""
    from textual.widgets import DataTable

    with contextlib.suppress(Exception):
        return int((screen or app.screen).query_one(DataTable).cursor_row)
    return -1


def _rows(app: Any) -> int:
    """Rows of the dashboard's backend table (0 if it is not there)."""
    from textual.widgets import DataTable

    with contextlib.suppress(Exception):
        return max(int(t.row_count) for t in app.screen.query(DataTable))
    return 0
