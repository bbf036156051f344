"""Processes as the kernel shows them (kill(2)'s probe and /proc): whether
one still runs, and its command line.  For the lab (whose servers it stops),
the benchmarks (whose killed runs' leftovers go) and the tests alike."""

from __future__ import annotations

import os
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
