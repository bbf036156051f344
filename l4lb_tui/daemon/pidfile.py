"""The daemon's pid file: one daemon per host, and how `l4lb reload` finds it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

from l4lb_tui.paths import RUN_DIR

PID_FILE = RUN_DIR / "daemon.pid"


class DaemonRunning(Exception):
    """Another daemon holds the pid file."""


class PidFileError(Exception):
    """The pid file is not a regular file (a symbolic link, a named pipe...)."""


# Not followed (its target would be truncated and get our PID), never
# waited on (opening a named pipe blocks until a writer comes).
_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _open(path: Path, flags: int) -> int:
    """The pid file, open; PidFileError if it is not a regular file."""
    try:
        fd = os.open(path, flags | _FLAGS, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        why = "a symbolic link"
    else:
        kind = os.fstat(fd).st_mode
        if stat.S_ISREG(kind):
            return fd
        os.close(fd)
        why = "a named pipe" if stat.S_ISFIFO(kind) else "not a regular file"
    raise PidFileError(f"the daemon's pid file {path} is {why}: remove it, then try again")


@contextlib.contextmanager
def held(path: Path = PID_FILE) -> Iterator[None]:
    """Hold the pid file for as long as the daemon runs (an flock: the
    kernel lets go of it when the daemon dies, however it dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = _open(path, os.O_RDWR | os.O_CREAT)
    except OSError as exc:
        raise PidFileError(f"cannot open the daemon's pid file {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DaemonRunning(f"a daemon already runs (PID {running(path) or '?'})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
        with contextlib.suppress(OSError):
            os.unlink(path)
    finally:
        os.close(fd)


def running(path: Path = PID_FILE) -> int | None:
    """The running daemon's pid, or None (no file, or nobody holds it)."""
    try:
        fd = _open(path, os.O_RDONLY)
    except (OSError, PidFileError):
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else None
        return None  # we got the lock: nobody holds it
    finally:
        os.close(fd)


def signal_daemon(sig: signal.Signals, path: Path = PID_FILE) -> int:
    """Send `sig` to the running daemon; its pid.  LookupError if none runs."""
    pid = running(path)
    if pid is None:
        raise LookupError("no l4lb daemon runs (start one with 'l4lb daemon -c FILE')")
    os.kill(pid, sig)
    return pid
