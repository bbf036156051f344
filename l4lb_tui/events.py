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
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from l4lb_tui.destinations import Destination
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
        # Not ASCII-escaped: an operator's `tail -f` reads "1 → 5", not "\\u2192".
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False) + "\n"


# -- what a change did, old → new, in the log's words ---------------------------


def changed_fields(before: Destination, after: Destination) -> tuple[tuple[str, str, str], ...]:
    """(field, was, is now) of each field that differs, as an operator names
    them; a weight of 0 counts as drained (it gets no new flows either)."""
    fields = (
        ("IP", before.ip, after.ip),
        ("MAC", before.mac, after.mac),
        ("weight", str(before.weight), str(after.weight)),
        (
            "drained",
            _yes(before.drained or not before.weight),
            _yes(after.drained or not after.weight),
        ),
        ("down", _yes(before.down), _yes(after.down)),
    )
    return tuple(f for f in fields if f[1] != f[2])


def backend_change(
    action: str, ip: str, before: Iterable[Destination] | None, after: Iterable[Destination] | None
) -> str:
    """What a change to backend `ip` did, for the log: "weight 10.0.0.11:
    weight 1 → 5", "add 10.0.0.11: new, weight 1, MAC …", "remove
    10.0.0.11: was weight 5, MAC …"; `before` and `after` are its service's
    lists around the change (a Done's pair)."""
    return f"{action} {ip}: {backend_words(ip, before, after)}"


def backend_words(
    ip: str, before: Iterable[Destination] | None, after: Iterable[Destination] | None
) -> str:
    """The old → new part of `backend_change`."""
    was = next((d for d in before or () if d.ip == ip), None)
    now = next((d for d in after or () if d.ip == ip), None)
    if now is None:
        return f"was {_looks(was)}" if was else "not a backend"
    if was is None:
        return f"new, {_looks(now)}"
    changed = ", ".join(f"{name} {a} → {b}" for name, a, b in changed_fields(was, now))
    return changed or f"unchanged, {_looks(now)}"


def _looks(d: Destination) -> str:
    flags = "".join(w for w, on in ((", drained", d.drained), (", down", d.down)) if on)
    return f"weight {d.weight}, MAC {d.mac}{flags}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


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
            event = Event(**{k: v for k, v in fields.items() if k in _FIELDS})
        except (ValueError, TypeError, AttributeError):
            continue
        if _well_typed(event):
            yield event


_TEXTS = ("who", "what", "interface", "service", "backend", "user")


def _well_typed(e: Event) -> bool:
    """A line of the right shape but other types (a list for `what`, a
    string for `pid`) is skipped like one that does not parse: readers hash
    and format these fields."""
    number = isinstance(e.at, (int, float)) and not isinstance(e.at, bool)
    pid = isinstance(e.pid, int) and not isinstance(e.pid, bool)
    return number and pid and all(isinstance(getattr(e, f), str) for f in _TEXTS)
