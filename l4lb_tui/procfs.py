"""Processes as the kernel shows them (kill(2)'s probe and /proc): whether
one still runs, its command line, stopping some for good, and a child
that dies with its parent.  For the lab
(whose servers it stops), the benchmarks (whose killed runs' leftovers go)
and the tests alike."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie nobody reaps: PID 1 may not,
    in a container, and a zombie has done all it will ever do."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's: it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False  # ended since
    except OSError:
        return True  # /proc hides it (hidepid), but kill found it
    # The state follows the command name, which may hold spaces and ")".
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> tuple[str, ...]:
    """A process's arguments; empty once it is gone (or for a kernel thread)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ()
    return tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a)


def stop(pids: Sequence[int], grace: float, running: Callable[[int], bool] = alive) -> list[int]:
    """SIGTERM, then SIGKILL what still runs after `grace` seconds; the
    pids that outlived both (empty when all are gone).

    `running` says whether a pid is still the process meant (a caller that
    knows its command line checks that too: a pid may be reused).
    """
    left = list(pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while left and time.monotonic() < deadline:
            for pid in left:
                # Reaped if it is our own child; PID 1 may never reap the rest.
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            left = [pid for pid in left if running(pid)]
            if left:
                time.sleep(0.02)
        if not left:
            return []
    return left


def mounts() -> list[tuple[str, str]]:
    """This mount namespace's mounts: (mount point, filesystem type) in the
    order /proc/self/mounts lists them (a later one covers an earlier)."""
    try:
        text = Path("/proc/self/mounts").read_text()
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            # The kernel writes a space in a path as \040 (and tab, newline, \ alike).
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
            found.append((point, fields[2]))
    return found


def sys_source() -> str:
    """The source of the sysfs mounted at /sys here ("" if none).  The host
    mounts it as "sysfs"; `ip netns exec NAME` mounts a fresh one, named
    NAME, in a private mount namespace of its own."""
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return ""
    source = ""
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        tail = fields[fields.index("-") + 1 :]
        if len(fields) > 4 and fields[4] == "/sys" and len(tail) >= 2 and tail[0] == "sysfs":
            source = tail[1]  # a later mount covers an earlier one
    return source


_PR_SET_PDEATHSIG = 1


def dies_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """What a child runs before it execs (`preexec_fn`) so that the kernel
    sends it `sig` when the process that started it dies, however it dies
    (SIGTERM, SIGHUP, SIGKILL): a traffic generator must not outlive the
    command bounding it, nor a BGP speaker the daemon announcing through it.
    It survives the exec (`ip netns exec` execs the tool itself, and neither
    is set-user-ID)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # it died before the line above
            os._exit(1)

    return in_child
