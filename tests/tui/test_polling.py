"""The timers themselves: polls re-armed after each render never overlap, stop
while paused or covered, and the console keeps polling after a bug in a poll."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from tui_support import DATA, SIZE

from l4lb_tui.app import ConsoleApp
from l4lb_tui.console_backend import ConsoleSettings, LinkRow, Sample
from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.widgets.status import StatusLine

FAST = ConsoleSettings(poll_interval=0.05, links_interval=0.05, start_dir=DATA)


class Slow(FakeBackend):
    """Samples take longer than the interval; counts how many ever ran at once."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.most = 0
        self.samples = 0
        self.listings = 0
        self.guard = threading.Lock()

    def sample(self, ifname: str) -> Sample:
        with self.guard:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.12)
        with self.guard:
            self.running -= 1
            self.samples += 1
        return super().sample(ifname)

    def links(self) -> list[LinkRow]:
        self.listings += 1
        return super().links()


def slow_demo() -> Slow:
    fake = Slow()
    fake.attach("lb0", "driver")
    fake.load("lb0", [], [])
    return fake


async def until(what: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition the timers bring about; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


def polls_running(app: ConsoleApp) -> bool:
    return any(w.group == "poll" and not w.is_finished for w in app.workers)


# Fixed sleeps only where a test shows that nothing happens: each lasts several
# poll periods (interval 0.05 s plus a 0.12 s sample).


async def test_polls_never_overlap_and_pause_stops_them() -> None:
    fake = slow_demo()
    app = ConsoleApp(fake, "lb0", FAST)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: fake.samples >= 4)
        assert fake.most == 1
        await pilot.press("p")
        await until(lambda: not polls_running(app))  # the poll under way may still finish
        await pilot.pause()
        paused_at = fake.samples
        await asyncio.sleep(0.5)
        assert fake.samples == paused_at
        await pilot.press("p")
        await until(lambda: fake.samples >= paused_at + 2)
        assert fake.most == 1


async def test_links_are_not_polled_under_a_dashboard() -> None:
    fake = slow_demo()
    app = ConsoleApp(fake, "lb0", FAST)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: fake.samples >= 2)
        covered = fake.listings
        await asyncio.sleep(0.5)
        assert fake.listings <= covered + 1
        await pilot.press("escape")
        await until(lambda: fake.listings >= covered + 3)


class Buggy(FakeBackend):
    calls = 0

    def sample(self, ifname: str) -> Sample:
        self.calls += 1
        raise RuntimeError("a bug, not an operator error")


async def test_a_bug_in_a_poll_is_shown_and_polling_goes_on() -> None:
    fake = Buggy.demo()
    app = ConsoleApp(fake, "lb0", FAST)
    async with app.run_test(size=SIZE) as pilot:
        status = app.screen.query_one(StatusLine)
        await until(lambda: any("internal error in poll" in m for m in status.messages))
        calls = fake.calls
        await until(lambda: fake.calls >= calls + 2)  # the timer was re-armed
        await pilot.press("j", "p", "p")
        assert app.is_running


async def test_writes_do_not_start_a_second_chain_of_polls() -> None:
    fake = slow_demo()
    app = ConsoleApp(fake, "lb0", FAST)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(4):  # each write polls at once, usually mid-poll
            await pilot.press("m", "enter")
            await asyncio.sleep(0.2)
        # A poll superseded by a write's may still be sampling: let it end.
        await until(
            lambda: (
                fake.running <= 1
                and not any(w.group == "write" and not w.is_finished for w in app.workers)
            )
        )
        await asyncio.sleep(0.2)
        fake.most = 0
        start = fake.samples
        await asyncio.sleep(1.0)
        assert fake.samples >= start + 3  # still polling: one chain ...
        assert fake.most == 1  # ... as two chains would overlap their samples
