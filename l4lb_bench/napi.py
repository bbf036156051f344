"""Threaded NAPI on the lab's veths, and the CPU time of each NAPI thread.

Without IRQ time accounting (Debian's kernel has none) softirq work is
charged to whichever task it interrupted, so the balancer's share of a
core cannot be read from /proc/stat.  With threaded NAPI each veth's receive
processing runs in its own kernel thread, `napi/<dev>-<id>`: the balancer's
veth thread runs its XDP program and its XDP_TX into the peer's ring, and
nothing else once the peer is threaded too (otherwise the peer's softirq
would run at the end of our poll and be charged to us).
/proc/<pid>/schedstat gives that thread's run time in nanoseconds.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from l4lb_bench.errors import BenchError

_PROC = Path("/proc")
_KTHREADD = 2
_TASK_COMM_LEN = 15  # without the NUL
_SETTLE = 2.0  # seconds for the kernel to start the thread


def napi_threads() -> dict[int, str]:
    """pid -> name of every `napi/...` kernel thread."""
    found = {}
    for d in _PROC.iterdir():
        if not d.name.isdigit():
            continue
        try:
            comm = (d / "comm").read_text().strip()
            if not comm.startswith("napi/"):
                continue
            ppid = int((d / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if ppid == _KTHREADD:
            found[int(d.name)] = comm
    return found


def make_threaded(ns: str, ifname: str) -> int:
    """Switch `ifname` in `ns` to threaded NAPI; the pid of its thread.

    The thread is told apart from every other by appearing now, and by its
    name (truncated by the kernel to 15 characters)."""
    before = set(napi_threads())
    # sysfs shows a namespace's links only when mounted from inside it,
    # which `ip netns exec` does.
    path = f"/sys/class/net/{ifname}/threaded"
    _write_in(ns, path, "1")
    want = f"napi/{ifname}-"[:_TASK_COMM_LEN]
    deadline = time.monotonic() + _SETTLE
    while True:
        new = {p: c for p, c in napi_threads().items() if p not in before and c.startswith(want)}
        if len(new) == 1:
            return next(iter(new))
        if len(new) > 1:
            raise BenchError(f"{ifname}: {len(new)} NAPI threads appeared, expected one")
        if time.monotonic() > deadline:
            raise BenchError(
                f"{ifname}: no NAPI thread after threaded=1 (does it run XDP, so NAPI at all?)"
            )
        time.sleep(0.05)


def _write_in(ns: str, path: str, value: str) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - argv list, no shell
            ["ip", "netns", "exec", ns, "tee", path],
            input=value,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"writing {path} in {ns}: {exc}") from None
    if done.returncode != 0:
        raise BenchError(f"writing {path} in {ns}: {done.stderr.strip()}")


def run_ns(pid: int) -> int:
    """Nanoseconds `pid` has run (schedstat's first field)."""
    try:
        return int((_PROC / str(pid) / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError) as exc:
        raise BenchError(f"run time of thread {pid}: {exc}") from None


def pin(pid: int, cpu: int) -> None:
    try:
        os.sched_setaffinity(pid, {cpu})
    except OSError as exc:
        raise BenchError(f"pinning thread {pid} to CPU {cpu}: {exc}") from None
