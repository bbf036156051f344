"""What a process spent: CPU time, and time waiting for a CPU."""

from __future__ import annotations

import os
import resource


def run_queue_wait(pid: int) -> float:
    """Seconds the main thread of `pid` has spent runnable but waiting for a
    CPU (its run-queue wait, /proc/PID/task/PID/schedstat)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_self() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def proc_cpu(pid: int) -> float:
    """utime + stime + waited-for children's, in seconds, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")
