"""Smoke runs of `l4lb bench health --quick`, for real: it runs, every probe it
counts passed, and it leaves nothing behind (also after being killed).  Never
on the CPU figure: a missed target is a finding, printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "l4lb_bench", "health"]


def namespaces(pid: int) -> list[str]:
    found = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    return [n for n in found if n in (f"l4hb{pid}-p", f"l4hb{pid}-s")]


@pytest.mark.parametrize("check", ["tcp", "http", "udp"])
def test_health_quick(check: str) -> None:
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        [*COMMAND, "--quick", "--check", check],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    assert "4,096 backends" in out and "of one core" in out and " 0 failed" in out
    assert ("target: <= 10% of one core" in out) == (check == "tcp")
    assert namespaces(proc.pid) == []


def test_a_killed_run_is_cleaned_up_by_the_next() -> None:
    killed = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        [*COMMAND, "--seconds", "30"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    servers: list[int] = []
    while not servers and time.monotonic() < deadline:
        time.sleep(0.1)
        servers = _servers_in(f"l4hb{killed.pid}-s")
    assert servers, "the run never started its backends"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    time.sleep(0.5)
    assert not [pid for pid in servers if _running(pid)], "the backends die with the run"
    assert len(namespaces(killed.pid)) == 2, "left behind, for the next run to remove"
    done = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [*COMMAND, "--quick", "--backends", "64"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert namespaces(killed.pid) == []


def _servers_in(ns: str) -> list[int]:
    """The benchmark's backend processes inside namespace `ns`."""
    try:
        inode = os.stat(f"/run/netns/{ns}").st_ino
    except OSError:
        return []
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
            same = os.stat(f"/proc/{pid}/ns/net").st_ino == inode
        except OSError:
            continue
        if same and b"l4lb_bench.health.server" in argv:
            found.append(int(pid))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
