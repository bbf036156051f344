"""One writer per balancer: an advisory lock file in paths.LOCK_DIR (the
same for every process, whatever its run directory), named after the
balancer's identity (so a rename keeps it, and two namespaces' interfaces
of one name have one each).

The kernel drops a flock when its holder dies, even by SIGKILL, so a crashed
writer never leaves the interface locked.  Readers never take it.  The lock
belongs to the open file, so a writer passes its descriptor to the bpftool
running its batch: if the writer dies first, the interface stays locked until
that batch has run whole.

A holder removes the file when it lets go, so lock files do not pile up (one
per interface ever written, deleted links included); a waiter
that meanwhile got the lock of the removed file starts over on a new one.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from l4lb_tui import procfs, runfile
from l4lb_tui.paths import LOCK_DIR


class LockedError(Exception):
    """Another process is changing this interface."""


def _holder(text: str) -> str:
    pid = text.strip()
    return f"PID {pid}" if pid.isdigit() else "another process"


# What a refusal advises; the daemon, which waited already, says its own.
CLI_WAIT_HINT = "(the CLI waits for it with 'l4lb --wait SECONDS ...')"


def lock_path(name: str) -> Path:
    return LOCK_DIR / f"{name}.lock"


def live_holder(name: str) -> int | None:
    """The PID of a running process that holds (or last held) the lock of
    `name`, without taking it: a reader must never hold up a writer.  The
    holder removes the file when it lets go, so a file whose PID still runs
    means a writer at work; one a killed writer left names a dead PID."""
    try:
        text = lock_path(name).read_text().strip()
    except OSError:
        return None
    if not text.isdigit() or int(text) == os.getpid():
        return None
    return int(text) if procfs.alive(int(text)) else None


@contextlib.contextmanager
def interface_lock(name: str, wait: float = 0.0, shown: str = "") -> Iterator[int]:
    """Hold the write lock of `name` (yields its descriptor); wait up to
    `wait` seconds for it.  `shown` is how a refusal names the interface
    (the lock's name is its balancer's identity, see identity.py).

    Only the holder unlinks the file (detach does while it holds it, and the
    release does): a waiter that then gets the lock of the unlinked file
    starts over on the new one, so two processes never both hold "the" lock.
    """
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    path = lock_path(name)
    shown = shown or name
    deadline = time.monotonic() + wait
    while True:
        try:
            # Not close-on-exec: a writer hands it to the bpftool running
            # its batch (Bpftool.keep_fds), so the lock lasts as long as that.
            fd = runfile.hold(path, f"{os.getpid()}\n", cloexec=False)
            break
        except runfile.Held as held:
            if time.monotonic() >= deadline:
                raise LockedError(
                    f"{shown} is in use by {_holder(held.holder)}: try again when it is done "
                    f"{CLI_WAIT_HINT}"
                ) from None
            time.sleep(0.05)
        except OSError as exc:
            raise LockedError(f"cannot take the lock of {shown}: {path}: {exc.strerror}") from None
        except runfile.NotRegular as exc:
            raise LockedError(
                f"cannot take the lock of {shown}: {path} is {exc.why}, which l4lb never makes "
                "there: remove it (nothing else was changed)"
            ) from None
    try:
        yield fd
    finally:
        # Still ours only if no one unlinked it meanwhile (detach may have,
        # and a waiter may have made a new one since).
        runfile.let_go(fd, path)
