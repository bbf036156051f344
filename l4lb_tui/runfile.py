"""Opening a file l4lb keeps in its run directory (a lock, the daemon's pid
file) only if it is a regular file: a symbolic link is not followed (its
target would get our PID) and a named pipe is not waited on (opening one
blocks until a writer comes)."""

from __future__ import annotations

import errno
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
