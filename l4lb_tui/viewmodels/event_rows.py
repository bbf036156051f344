"""The event log's rows (pure): who changed what and when, newest first,
read back from the log every writer appends to (events.py)."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence

from rich.text import Text

from l4lb_tui.events import Event
from l4lb_tui.viewmodels.cells import Cell, printable
from l4lb_tui.viewmodels.health_rows import NONE

WHO_STYLES = {"console": "cyan", "cli": "magenta", "daemon": "blue", "health": "yellow"}


def who_cell(event: Event, own_pid: int) -> Cell:
    """ "console (this one)", "console root pid 4242", "cli root", "health"."""
    if event.who == "console" and event.pid == own_pid:
        words = "console (this one)"
    else:
        words = " ".join(
            w for w in (event.who, event.user, f"pid {event.pid}" if event.pid else "") if w
        )
    return Text(printable(words), style=WHO_STYLES.get(event.who, ""))


def when_cell(at: float, now: float | None = None) -> str:
    """The time alone for today's events (the column stays narrow enough to
    leave What its room at 80 columns), the day and minute for older ones;
    "?" for a time no clock can show (a hand-edited line, -1e20 or inf):
    the log is where an operator looks when things went wrong."""
    try:
        when = time.localtime(at)
    except (OverflowError, OSError, ValueError):
        return "?"
    today = time.localtime(time.time() if now is None else now)
    if when[:3] == today[:3]:
        return time.strftime("%H:%M:%S", when)
    return time.strftime("%m-%d %H:%M", when)


def event_rows(
    found: Sequence[Event], own_pid: int, interface: str | Collection[str] | None = None
) -> list[tuple[str, tuple[Cell, ...]]]:
    """(row key, cells), newest first; only `interface`'s when one is given,
    by any of the names given (a renamed interface's history is under its
    old names too); events that name no interface, such as a daemon's, are
    always shown."""
    names = {interface} if isinstance(interface, str) else set(interface or ())
    rows: list[tuple[str, tuple[Cell, ...]]] = []
    keys: dict[str, int] = {}
    for event in reversed(found):
        if names and event.interface and event.interface not in names:
            continue
        key = f"{event.at!r}:{event.pid}:{event.who}:{hash(event.what)}"
        keys[key] = keys.get(key, 0) + 1
        if keys[key] > 1:  # the same line written twice at once: both shown
            key = f"{key}:{keys[key]}"
        where = event.interface or NONE
        target = " ".join(w for w in (event.service, event.backend) if w)
        rows.append(
            (
                key,
                (
                    when_cell(event.at),
                    who_cell(event, own_pid),
                    where,
                    target,
                    event.what,
                ),
            )
        )
    return rows
