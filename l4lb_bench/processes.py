"""Tools run from the benchmarks, and the benchmark's own process: a tool run
to completion, root required, SIGTERM turned into clean-up, children that
die with it."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from types import FrameType

from l4lb_bench.errors import BenchError


def run(argv: Sequence[str], *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion; BenchError with its last words on failure."""
    try:
        done = subprocess.run(  # noqa: S603 - argv list, no shell
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise BenchError(f"{argv[0]} not found: install it") from None
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(argv[:4])}: no answer after {timeout:g} s") from None
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        why = said[-1] if said else f"exit status {done.returncode}"
        raise BenchError(f"{' '.join(argv[:6])}: {why}")
    return done


def need_root(what: str) -> None:
    if os.geteuid() != 0:
        raise BenchError(f"{what} needs root (BPF, namespaces, XDP): run it with sudo")


# -- signals --------------------------------------------------------------------


@contextlib.contextmanager
def terminate_cleanly() -> Iterator[None]:
    """SIGTERM and SIGHUP raise SystemExit, so every `finally` below runs.

    Only in this process: pyroute2 forks helpers (to reach a namespace) and
    stops them with SIGTERM; a helper that unwound our stack would run our
    clean-up and delete the namespace its parent is using.
    """
    me = os.getpid()

    def stop(signum: int, _frame: FrameType | None) -> None:
        if not owner_only(me):
            os._exit(128 + signum)
        raise SystemExit(128 + signum)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


# -- child processes ----------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn for traffic generators: SIGKILL them when this process dies,
    however it dies (an orphaned hping3 --flood would run on for ever).
    `ip netns exec` execs the tool, which keeps the setting."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def owner_only(pid: int) -> bool:
    """True in the process that set something up, False in a fork of it.

    pyroute2 forks helpers to reach other namespaces; a fork that unwinds
    through our `finally` blocks must not tear down what its parent uses.
    """
    return os.getpid() == pid
