"""The event log: one JSON line per decision or change, appended by every
writer (the daemon, the CLI, the console) to one file that any reader (the
console's event view, an operator's `tail -f`) reads back.

Appends are single `write` calls of whole lines on a file opened with
O_APPEND, so lines of several writers never interleave; the file is cut to
its newer half past MAX_BYTES by whoever notices, under an flock.
"""

from __future__ import annotations

import contextlib
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


def record(event: Event, path: Path | None = None) -> None:
    """Append an event; a log that cannot be written never stops a writer."""
    target = path or EVENTS_FILE
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        # O_NONBLOCK: a named pipe in the log's place must not hold a writer
        # (it has changed something already) waiting for a reader.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
        fd = os.open(target, flags, 0o644)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return  # a log is a regular file; anything else is left alone
            os.write(fd, event.line().encode())
            if os.fstat(fd).st_size > MAX_BYTES:
                _trim(fd, target)
        finally:
            os.close(fd)


def note(who: str, what: str, **where: str) -> None:
    record(Event(time.time(), who, what, **where, pid=os.getpid(), user=operator()))


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
        lines = (path or EVENTS_FILE).read_bytes().splitlines()[-last:]
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
