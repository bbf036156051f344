"""The poll loop of every screen that polls (the links, a dashboard's counters).

Dolphie's pattern: a thread worker fetches and posts one `Polled` to the
screen; the screen renders it and only then re-arms the timer (`rearm`), so
polls never overlap and a slow fetch never piles up.  Each poll carries a
sequence number: `now()` (a refresh asked for, the poll after a write)
supersedes the poll under way, whose answer the screen then drops without
re-arming, so only one chain of polls ever runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from l4lb_tui.console_backend import ConsoleError

T = TypeVar("T")


@dataclass
class Polled(Message, Generic[T]):
    """One poll's answer: what it fetched, or the operator's error (None)."""

    group: str  # the loop it answers (its workers' group)
    seq: int  # which poll of that loop: only the latest is rendered
    result: T | None
    error: str = ""


class PollLoop(Generic[T]):
    """One chain of polls for `screen`, in the worker group `group`.

    `fetch(seq)` runs in the worker's thread and returns what the screen
    renders (immutable: the UI thread only reads it); a ConsoleError is the
    operator's to read, anything else is a bug (`failed`).  `interval()` is
    asked at each re-arm (None: no timer, e.g. paused); `tick` is what the
    timer runs (default: poll now).
    """

    def __init__(
        self,
        screen: Screen[Any],
        group: str,
        fetch: Callable[[int], T],
        interval: Callable[[], float | None],
        tick: Callable[[], None] | None = None,
    ) -> None:
        self._screen = screen
        self.group = group
        self._fetch = fetch
        self._interval = interval
        self._tick = tick or self.now
        self.seq = 0
        self._timer: Timer | None = None

    def now(self) -> None:
        """Poll at once; the poll under way, if any, is superseded."""
        self.stop()
        self.seq += 1
        self._screen.run_worker(
            partial(self._poll, self.seq),
            name=self.group,
            group=self.group,
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _poll(self, seq: int) -> None:
        try:
            result = self._fetch(seq)
        except ConsoleError as exc:
            self._screen.post_message(Polled(self.group, seq, None, str(exc)))
            return
        self._screen.post_message(Polled(self.group, seq, result))

    def is_current(self, seq: int) -> bool:
        """Whether poll `seq` is the latest (from any thread)."""
        return seq == self.seq

    def answers(self, message: Polled[Any]) -> bool:
        """Whether the screen should render this answer: the latest poll's.

        A superseded poll's answer is dropped as it is: the newer poll's
        answer re-arms the timer."""
        return message.group == self.group and self.is_current(message.seq)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def rearm(self) -> None:
        """After rendering an answer: the next poll in `interval()` seconds."""
        self.stop()  # never two timers: one chain of polls
        interval = self._interval()
        if interval is not None and self._screen.is_attached:
            self._timer = self._screen.set_timer(interval, self._tick)

    def failed(self, event: Worker.StateChanged) -> bool:
        """Whether `event` is a bug in one of this loop's fetches; if so,
        the loop is re-armed, so polling goes on."""
        if event.worker.group != self.group or event.state != WorkerState.ERROR:
            return False
        self.rearm()
        return True
