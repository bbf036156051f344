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

ROOT = Path(__file__).parents[1]

_STANDIN = """\
import os, subprocess, sys, time
real = os.environ["L4LB_TEST_REAL_BPFTOOL"]
args = sys.argv[1:]
if args[-3:] != ["batch", "file", "-"]:
    os.execv(real, [real, *args])
lines = sys.stdin.read().splitlines(keepends=True)
cut = int(float(os.environ["L4LB_TEST_CUT"]) * len(lines))
if cut:
    subprocess.run([real, *args], input="".join(lines[:cut]), text=True, check=False)
with open(os.environ["L4LB_TEST_PAUSED"], "w") as out:
    out.write(f"{cut} {len(lines)}")
time.sleep(600)
"""


@dataclass(frozen=True, slots=True)
class Cut:
    """Where a killed reload's batch was cut: `ran` of its `lines` lines."""

    ran: int
    lines: int


def standin_dir(tmp: Path) -> Path:
    bin_dir = tmp / "standin-bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / "bpftool"
    tool.write_text(f"#!{sys.executable}\n{_STANDIN}")
    tool.chmod(0o755)
    return bin_dir


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL every process of the group `proc` leads, and wait until none is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    raise AssertionError(f"processes of group {proc.pid} outlived SIGKILL")


def cut_reload(args: Sequence[str], fraction: float, tmp: Path) -> Cut | None:
    """Run `l4lb ARGS`; once its batch is cut after `fraction` of its lines,
    SIGKILL its whole process group.  None: it finished without a batch."""
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
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not paused.exists() or not paused.read_text():
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            assert proc.returncode == 0, f"l4lb {' '.join(args)}: {err}"
            return None
        assert time.monotonic() < deadline, "the stand-in bpftool never paused"
        time.sleep(0.005)
    kill_group(proc)
    ran, lines = (int(n) for n in paused.read_text().split())
    return Cut(ran, lines)
