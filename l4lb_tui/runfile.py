"""Opening a file l4lb keeps in its run directory (a lock, the daemon's pid
file) only if it is a regular file: a symbolic link is not followed (its
target would get our PID) and a named pipe is not waited on (opening one
blocks until a writer comes).  And holding one as an exclusive flock that
names its holder (`hold`): the write lock, a daemon's claim on a balancer,
a speaker's on its directory."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path


class NotRegular(Exception):
    """The path is something l4lb never makes there; `why` says what."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def open_regular(path: Path, flags: int, mode: int = 0o644) -> int:
    """An fd of `path` opened with `flags`; NotRegular if it is not a regular
    file; OSError for any other failure."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise NotRegular("a symbolic link") from None
    kind = os.fstat(fd).st_mode
    if stat.S_ISREG(kind):
        return fd
    os.close(fd)
    raise NotRegular("a named pipe" if stat.S_ISFIFO(kind) else "not a regular file")


class Held(Exception):
    """Another process holds the flock; `holder` is what it wrote there."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def still_linked(fd: int, path: Path) -> bool:
    """Whether `fd` is still the file at `path` (its holder may have removed
    it, and another process made a new one since)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def hold(path: Path, record: str, cloexec: bool = True) -> int:
    """`path` (a regular file, made if missing) flocked exclusively, without
    waiting, with `record` written in it: the descriptor, which holds it
    until closed.  Held if another process has it; NotRegular or OSError as
    open_regular.  A file its holder removed between our open and our flock
    is let go, and the new one taken, so two processes never both hold "the"
    file."""
    flags = os.O_RDWR | os.O_CREAT | (os.O_CLOEXEC if cloexec else 0)
    while True:
        fd = open_regular(path, flags)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 4096, 0).decode(errors="replace")
            except OSError:
                holder = ""
            os.close(fd)
            raise Held(holder) from None
        if still_linked(fd, path):
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, record.encode(), 0)
    return fd


def let_go(fd: int, path: Path) -> None:
    """Close a held file, removing it if it is still ours (no file piles up)."""
    if still_linked(fd, path):
        path.unlink(missing_ok=True)
    os.close(fd)


def held(path: Path) -> bool:
    """Whether a live process holds `path`'s flock (a dead one's is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing lets go of a lock we took
    return False
