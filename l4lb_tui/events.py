"""The event log: one JSON line per decision or change, appended by every
writer (the daemon, the CLI, the console) to one file that any reader (the
console's event view, an operator's `tail -f`) reads back.

Appends are single `write` calls of whole lines on a file opened with
O_APPEND, so lines of several writers never interleave; the file is cut to
its newer half past MAX_BYTES by whoever notices, under an flock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pwd
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from l4lb_tui.paths import RUN_DIR

EVENTS_FILE = Path(os.environ.get("L4LB_EVENTS", str(RUN_DIR / "events.jsonl")))
MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Event:
    at: float  # time.time()
    who: str  # "daemon", "health", "cli", "console"
    what: str  # one line, as an operator would say it
    interface: str = ""
    service: str = ""
    backend: str = ""
    pid: int = 0  # the writer's process: tells one console from another
    user: str = ""  # who ran it (sudo's caller where there is one)

    def line(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":")) + "\n"


# What the open of a file that is not a regular one fails with: O_NOFOLLOW
# on a symbolic link, O_NONBLOCK on a named pipe nobody reads.
_NOT_REGULAR = {
    errno.ELOOP: "it is a symbolic link, not a regular file",
    errno.ENXIO: "it is not a regular file (a named pipe?)",
}


def record(event: Event, path: Path | None = None) -> str | None:
    """Append an event; a log that cannot be written never stops a writer,
    nor makes it wait.  Why it was not written, or None.

    Only a regular file is appended to: a symbolic link there is not
    followed, and a named pipe (which would block the writer until someone
    reads it) is not written."""
    target = path or EVENTS_FILE
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        # O_NONBLOCK: a named pipe in the log's place must not hold a writer
        # (it has changed something already) waiting for a reader.
        fd = os.open(target, flags | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        why = _NOT_REGULAR.get(exc.errno or 0, exc.strerror)
        return f"the event log {target} was not written: {why}"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return f"the event log {target} was not written: {_NOT_REGULAR[errno.ENXIO]}"
        os.write(fd, event.line().encode())
        if os.fstat(fd).st_size > MAX_BYTES:
            _trim(fd, target)
    except OSError as exc:
        return f"the event log {target} was not written: {exc.strerror}"
    finally:
        os.close(fd)
    return None


def note(who: str, what: str, **where: str) -> str | None:
    """Record what `who` did; why the log was not written, or None."""
    return record(Event(time.time(), who, what, **where, pid=os.getpid(), user=operator()))


def operator() -> str:
    """The person behind this process: sudo's caller, else the login name."""
    sudo = os.environ.get("SUDO_USER", "")
    if sudo:
        return sudo
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _trim(fd: int, path: Path) -> None:
    """Keep the newer half: rewrite it beside the log, then rename over."""
    with contextlib.suppress(BlockingIOError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        data = path.read_bytes()
        keep = data[len(data) // 2 :]
        keep = keep[keep.find(b"\n") + 1 :]
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(keep)
        os.replace(tmp, path)


def read(path: Path | None = None, last: int = 1000) -> list[Event]:
    """The newest `last` events, oldest first; lines that do not parse are skipped."""
    try:
        fd = os.open(path or EVENTS_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as log:
        # A named pipe there would keep its reader waiting for a writer.
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        try:
            lines = log.read().splitlines()[-last:]
        except OSError:
            return []
    return list(_parse(lines))


_FIELDS = frozenset(Event.__dataclass_fields__)


def _parse(lines: list[bytes]) -> Iterator[Event]:
    for raw in lines:
        try:
            fields = json.loads(raw)
            # Fields a newer writer added are passed over, not the line.
            yield Event(**{k: v for k, v in fields.items() if k in _FIELDS})
        except (ValueError, TypeError, AttributeError):
            continue
