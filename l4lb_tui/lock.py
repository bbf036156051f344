"""One writer per interface: an advisory lock file under the run directory.

The kernel drops a flock when its holder dies, even by SIGKILL, so a crashed
writer never leaves the interface locked.  Readers never take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from l4lb_tui.paths import RUN_DIR


class LockedError(Exception):
    """Another process is changing this interface."""


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return "another process"
    return f"PID {pid}" if pid.isdigit() else "another process"


@contextlib.contextmanager
def interface_lock(name: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the write lock of `name`; wait up to `wait` seconds for it."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    path = RUN_DIR / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"{name} is in use by {_holder(path)}: try again, "
                        "or pass --wait SECONDS to wait for it"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
