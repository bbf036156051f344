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
    """ "console (this one)", "console pid 4242", "cli ann pid 17", "health".

    root, who runs nearly everything here, is left out: "health root pid
    17811" was cut to "health root pid 17", a plausible and wrong pid.
    """
    if event.who == "console" and event.pid == own_pid:
        words = "console (this one)"
    else:
        user = "" if event.user == "root" else event.user
        words = " ".join(w for w in (event.who, user, f"pid {event.pid}" if event.pid else "") if w)
    return Text(printable(words), style=WHO_STYLES.get(event.who, ""))


def when_cell(at: float, now: float | None = None) -> str:
    """The time alone for today's events (the column stays narrow enough to
    leave What its room at 80 columns), the day and minute for older ones
    of this year, the date for another year's (a clock set wrong, a log
    kept for long: "01-01 00:00" read as this new year's day); "?" for a
    time no clock can show (a hand-edited line, -1e20 or inf): the log is
    where an operator looks when things went wrong."""
    try:
        when = time.localtime(at)
    except (OverflowError, OSError, ValueError):
        return "?"
    today = time.localtime(time.time() if now is None else now)
    if when[:3] == today[:3]:
        return time.strftime("%H:%M:%S", when)
    if when.tm_year == today.tm_year:
        return time.strftime("%m-%d %H:%M", when)
    return f"{when.tm_year:04d}-{when.tm_mon:02d}-{when.tm_mday:02d}"


def keyed(
    found: Sequence[Event], interface: str | Collection[str] | None = None
) -> list[tuple[str, Event]]:
    """(row key, event), newest first; only `interface`'s when one is given,
    by any of the names given (a renamed interface's history is under its
    old names too); events that name no interface, such as a daemon's, are
    always shown."""
    names = {interface} if isinstance(interface, str) else set(interface or ())
    out: list[tuple[str, Event]] = []
    keys: dict[str, int] = {}
    for event in reversed(found):
        if names and event.interface and event.interface not in names:
            continue
        key = f"{event.at!r}:{event.pid}:{event.who}:{hash(event.what)}"
        keys[key] = keys.get(key, 0) + 1
        if keys[key] > 1:  # the same line written twice at once: both shown
            key = f"{key}:{keys[key]}"
        out.append((key, event))
    return out


def what_cell(event: Event, with_service: bool) -> str:
    """What happened; `with_service`: the service column is hidden (80
    columns), and two services' entries ("10.0.0.12: down") read the same."""
    if with_service and event.service and event.service not in event.what:
        return f"{event.service}: {event.what}"
    return event.what


def event_rows(
    found: Sequence[Event],
    own_pid: int,
    interface: str | Collection[str] | None = None,
    with_service: bool = False,
) -> list[tuple[str, tuple[Cell, ...]]]:
    """(row key, cells), newest first, of the events `keyed` picks."""
    rows: list[tuple[str, tuple[Cell, ...]]] = []
    for key, event in keyed(found, interface):
        target = " ".join(w for w in (event.service, event.backend) if w)
        cells = (
            when_cell(event.at),
            who_cell(event, own_pid),
            event.interface or NONE,
            target,
            what_cell(event, with_service),
        )
        rows.append((key, cells))
    return rows


def whole_entry(event: Event, own_pid: int) -> str:
    """Every field of one entry, for Enter: What is cut at 80 columns."""
    try:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.at))
    except (OverflowError, OSError, ValueError):
        when = f"? (at {event.at!r})"
    fields = (
        ("interface", event.interface),
        ("service", event.service),
        ("backend", event.backend),
    )
    parts = [when, str(who_cell(event, own_pid))]
    parts += [f"{name} {value}" for name, value in fields if value]
    return printable(" · ".join(parts)) + "\n" + printable(event.what)
