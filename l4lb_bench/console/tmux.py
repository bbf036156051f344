"""The console in a real terminal: `l4lb-tui` in a tmux of its own, its CPU
from /proc and the time from send-keys until capture-pane shows the result."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from l4lb_bench import processes
from l4lb_bench.console.cpu import proc_cpu, run_queue_wait
from l4lb_bench.console.results import HELP_MARKER, KEY_CLOSE, KEY_HELP, SIZE, Options, Run
from l4lb_bench.errors import BenchError


def _tmux(sock: str, *args: str) -> str:
    return processes.run(["tmux", "-L", sock, *args], timeout=10).stdout


def run_in_tmux(ns: str, dev: str, opts: Options, workdir: Path) -> Run:
    """The console in a tmux of its own.  A console that dies or hangs is a
    finding of this run (with its last screen), not an error of the bench."""
    sock = f"l4bench-{os.getpid()}"
    run = Run("tmux (real terminal)", 0.0, 0.0)
    # remain-on-exit: if the console dies, its last screen stays to be read.
    conf = workdir / "tmux.conf"
    conf.write_text("set -g remain-on-exit on\n")
    argv = [sys.executable, "-m", "l4lb_tui.app", "--netns", ns, "-i", dev]
    try:
        _tmux(
            sock,
            "-f",
            str(conf),
            "new-session",
            "-d",
            "-s",
            "bench",
            "-x",
            str(opts.size[0]),
            "-y",
            str(opts.size[1]),
            *argv,
        )
        _drive_tmux(sock, dev, opts, run)
    except (BenchError, _ConsoleGone) as exc:
        run.problems.append(str(exc))
    finally:
        with contextlib.suppress(BenchError):
            _tmux(sock, "kill-server")
    return run


def tmux_floor(presses: int) -> list[float]:
    """send-keys until capture-pane shows the key, in seconds, with `cat` in
    the pane: what the tmux figures include of tmux's own (its client
    processes, the pty, its parsing) and nothing of the console."""
    sock = f"l4bench-floor-{os.getpid()}"
    times: list[float] = []
    try:
        _tmux(
            sock, "new-session", "-d", "-s", "floor", "-x", str(SIZE[0]), "-y", str(SIZE[1]), "cat"
        )
        time.sleep(0.3)
        for n in range(1, presses + 1):
            time.sleep(0.1)
            t = time.perf_counter()
            _tmux(sock, "send-keys", "-t", "floor", "z")
            while _tmux(sock, "capture-pane", "-p", "-t", "floor").count("z") < n:
                if time.perf_counter() - t > 5:
                    return times
            times.append(time.perf_counter() - t)
    finally:
        with contextlib.suppress(BenchError):
            _tmux(sock, "kill-server")
    return times


class _ConsoleGone(Exception):
    """The console's process ended during the run."""


def _drive_tmux(sock: str, dev: str, opts: Options, run: Run) -> None:
    pane = _tmux(sock, "list-panes", "-t", "bench", "-F", "#{pane_pid} #{pane_dead}").split()
    pid = int(pane[0])

    def screen() -> str:
        text = _tmux(sock, "capture-pane", "-p", "-t", "bench")
        if _tmux(sock, "list-panes", "-t", "bench", "-F", "#{pane_dead}").strip() == "1":
            last = [ln for ln in text.splitlines() if ln.strip()][-3:]
            raise _ConsoleGone(f"the console exited: {' | '.join(last) or 'no output'}")
        return text

    deadline = time.monotonic() + 30
    while dev not in screen() or "172.16.0." not in screen():
        if time.monotonic() > deadline:
            run.problems.append("the dashboard did not show the backends in 30 s")
            return
        time.sleep(0.1)
    time.sleep(2.0)  # a refresh or two
    cpu0, t0 = proc_cpu(pid), time.perf_counter()
    time.sleep(opts.seconds)
    run.cpu, run.seconds = proc_cpu(pid) - cpu0, time.perf_counter() - t0
    run.rows = screen().count("172.16.")
    for i in range(opts.presses):
        time.sleep(0.37 + 0.11 * (i % 3))
        for key, want, label in (("?", True, KEY_HELP), ("Escape", False, KEY_CLOSE)):
            q = run_queue_wait(pid)
            t = time.perf_counter()
            _tmux(sock, "send-keys", "-t", "bench", key)
            while (HELP_MARKER in _tmux(sock, "capture-pane", "-p", "-t", "bench")) != want:
                if time.perf_counter() - t > 5:
                    screen()  # raises if the console died meanwhile
                    run.problems.append(f"no reaction to {key} in 5 s")
                    return
            run.keys.setdefault(label, []).append(time.perf_counter() - t)
            run.queued.setdefault(label, []).append(run_queue_wait(pid) - q)
