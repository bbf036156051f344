"""Reloads killed at a chosen point of their batch, the whole process group
at once (as `systemctl kill`, a unit's stop timeout, the OOM killer or a
stopped container do).

A stand-in bpftool first on PATH hands every command but a batch to the real
one.  A batch it cuts: the first part goes through the real bpftool, then it
says so and waits to be killed, so the moment is certain, not a race.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import procfs

ROOT = Path(__file__).parents[1]

_STANDIN = """\
import os, subprocess, sys, time
real = os.environ["L4LB_TEST_REAL_BPFTOOL"]
args = sys.argv[1:]
if args[-3:] != ["batch", "file", "-"]:
    os.execv(real, [real, *args])
lines = sys.stdin.read().splitlines(keepends=True)
cut = int(float(os.environ["L4LB_TEST_CUT"]) * len(lines))
if "L4LB_TEST_CUT_LINES" in os.environ:
    cut = int(os.environ["L4LB_TEST_CUT_LINES"])
if cut:
    subprocess.run([real, *args], input="".join(lines[:cut]), text=True, check=False)
with open(os.environ["L4LB_TEST_PAUSED"], "w") as out:
    out.write(f"{cut} {len(lines)} {os.getpid()}")
resume = os.environ.get("L4LB_TEST_RESUME")
if resume is None:
    time.sleep(600)
time.sleep(float(resume))
rest = subprocess.run([real, *args], input="".join(lines[cut:]), text=True, check=False)
sys.exit(rest.returncode)
"""


@dataclass(frozen=True, slots=True)
class Cut:
    """Where a killed reload's batch was cut: `ran` of its `lines` lines,
    and the stand-in that holds the rest (bpftool runs in a session of its
    own, out of reach of a Ctrl-C to the command's group)."""

    ran: int
    lines: int
    standin: int

    def __str__(self) -> str:
        return f"{self.ran}/{self.lines}"


def standin_dir(tmp: Path) -> Path:
    bin_dir = tmp / "standin-bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / "bpftool"
    tool.write_text(f"#!{sys.executable}\n{_STANDIN}")
    tool.chmod(0o755)
    return bin_dir


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(proc: subprocess.Popen[str], others: Sequence[int] = ()) -> None:
    """Wait for `proc`, the rest of its group and `others` to end."""
    proc.wait()
    deadline = time.monotonic() + 30
    while _group_alive(proc.pid) or any(procfs.alive(p) for p in others):
        assert time.monotonic() < deadline, f"processes of {proc.pid} still run after 30 s"
        time.sleep(0.01)


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL every process of the group `proc` leads and all it started
    (bpftool has a session of its own), as a cgroup kill does; wait until
    they are gone."""
    below = descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in below:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_gone(proc, below)


def paused_reload(
    args: Sequence[str],
    fraction: float,
    tmp: Path,
    resume: float | None = None,
    lines: int | None = None,
) -> tuple[subprocess.Popen[str], Path]:
    """Start `l4lb ARGS` in a session of its own, with the stand-in bpftool
    pausing its batch after `fraction` of its lines (and going on after
    `resume` seconds, if given).  The process, and the file the stand-in
    writes when it pauses."""
    paused = tmp / "paused"
    paused.unlink(missing_ok=True)
    real = shutil.which("bpftool")
    assert real, "bpftool is not installed"
    env = {
        **os.environ,
        "PATH": f"{standin_dir(tmp)}:{os.environ.get('PATH', '')}",
        "L4LB_TEST_REAL_BPFTOOL": real,
        "L4LB_TEST_CUT": repr(fraction),
        "L4LB_TEST_PAUSED": str(paused),
    }
    if resume is not None:
        env["L4LB_TEST_RESUME"] = repr(resume)
    if lines is not None:
        env["L4LB_TEST_CUT_LINES"] = str(lines)
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return proc, paused


def wait_paused(proc: subprocess.Popen[str], paused: Path) -> Cut | None:
    """The cut, once the stand-in has paused; None if the command ended first."""
    deadline = time.monotonic() + 60
    while not paused.exists() or not paused.read_text():
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            assert proc.returncode == 0, f"l4lb exited {proc.returncode}: {err}"
            return None
        assert time.monotonic() < deadline, "the stand-in bpftool never paused"
        time.sleep(0.005)
    ran, lines, pid = (int(n) for n in paused.read_text().split())
    return Cut(ran, lines, pid)


def cut_reload(
    args: Sequence[str], fraction: float, tmp: Path, lines: int | None = None
) -> Cut | None:
    """Run `l4lb ARGS`; once its batch is cut after `fraction` of its lines
    (or exactly `lines`), SIGKILL its whole process group.  None: it
    finished without a batch."""
    proc, paused = paused_reload(args, fraction, tmp, lines=lines)
    cut = wait_paused(proc, paused)
    # Every process of the command, as a cgroup kill (systemctl kill, the
    # OOM killer, a stopped container) takes them: its group and bpftool's.
    if cut is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cut.standin, signal.SIGKILL)
    kill_group(proc)
    return cut
