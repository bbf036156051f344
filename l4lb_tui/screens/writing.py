"""The dashboard's writes to the balancer: one at a time, in a thread worker.

A write reads, changes and writes under the interface's lock, which can
take a while (bpftool, a large reload): the UI thread only starts it and
handles the `Written` it posts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from l4lb_tui.console_backend import ConsoleError
from l4lb_tui.viewmodels.applying import Refused
from l4lb_tui.viewmodels.edits import Applied, Outcome

# A change to carry out: what to tell the operator, and the record for undo
# (None: nothing to undo, e.g. a mode switch).
Job = Callable[[], tuple[str, Applied | None]]

GROUP = "write"


@dataclass
class Written(Message):
    outcome: Outcome


class WriteRunner:
    """Runs one `Job` at a time for `screen` and posts its `Written`."""

    def __init__(self, screen: Screen[Any]) -> None:
        self._screen = screen
        self.busy = False  # a write is running: the next one is refused

    def start(self, job: Job, undo: bool = False) -> bool:
        """Start `job`, unless the previous write is still running (said):
        whether it started."""
        if self.busy:
            self._screen.notify(
                "still applying the previous change; try again", severity="warning", markup=False
            )
            return False
        self.busy = True
        self._screen.run_worker(
            partial(self._write, job, undo),
            name=GROUP,
            group=GROUP,
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )
        return True

    def run(self, operation: Callable[[], str]) -> None:
        """An operation with nothing to undo (mode, detach, save)."""
        self.start(lambda: (operation(), None))

    def _write(self, job: Job, undo: bool) -> None:
        try:
            message, change = job()
        except ConsoleError as exc:
            stale = isinstance(exc, Refused) and exc.stale
            outcome = Outcome(str(exc), ok=False, undo=undo, stale=stale)
        else:
            outcome = Outcome(message, True, change, undo)
        self._screen.post_message(Written(outcome))

    def failed(self, event: Worker.StateChanged) -> bool:
        """Whether `event` is a bug in a write; if so, the next one may start."""
        if event.worker.group != GROUP or event.state != WorkerState.ERROR:
            return False
        self.busy = False
        return True
