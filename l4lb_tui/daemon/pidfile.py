"""The daemon's pid file: one daemon per host, and how `l4lb reload` finds it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from l4lb_tui import runfile
from l4lb_tui.paths import RUN_DIR

PID_FILE = RUN_DIR / "daemon.pid"


class DaemonRunning(Exception):
    """Another daemon holds the pid file."""


class PidFileError(Exception):
    """The pid file is not a regular file (a symbolic link, a named pipe...)."""


def _open(path: Path, flags: int) -> int:
    """The pid file, open; PidFileError if it is not a regular file."""
    try:
        return runfile.open_regular(path, flags | os.O_CLOEXEC)
    except runfile.NotRegular as exc:
        raise PidFileError(
            f"the daemon's pid file {path} is {exc.why}: remove it, then try again"
        ) from None


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
