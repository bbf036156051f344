"""procfs.alive and cmdline against real processes of this test."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from l4lb_tui import procfs


def test_a_running_process_is_alive_and_shows_its_arguments() -> None:
    assert procfs.alive(os.getpid())
    argv = [sys.executable, "-c", "import time; time.sleep(30)", "a marker"]
    with subprocess.Popen(argv) as child:  # noqa: S603 - fixed argv
        try:
            assert procfs.alive(child.pid)
            deadline = time.monotonic() + 10
            # Until exec: the fork's copy shows this process's arguments.
            while procfs.cmdline(child.pid) != tuple(argv):
                assert time.monotonic() < deadline, procfs.cmdline(child.pid)
                time.sleep(0.01)
        finally:
            child.kill()


def test_a_zombie_and_a_reaped_process_are_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    # Not reaped yet: a zombie, which has done all it ever will.
    while procfs.alive(child.pid):
        assert time.monotonic() < deadline, "the child never ended"
        time.sleep(0.01)
    assert procfs.cmdline(child.pid) == ()
    child.wait()
    assert not procfs.alive(child.pid)


def test_stop_kills_a_process_that_ignores_sigterm_and_reaps_both() -> None:
    code = "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    code += "print('ready', flush=True); time.sleep(60)"
    argv = [sys.executable, "-c", code]
    stubborn = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)  # noqa: S603 - fixed argv
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == "ready\n"
        assert procfs.stop([stubborn.pid, polite.pid], grace=0.5) == []
        # Reaped by stop (our children): not even a zombie is left.
        assert not procfs.alive(stubborn.pid) and not procfs.alive(polite.pid)
    finally:
        stubborn.kill()
        polite.kill()


def test_stop_names_what_its_caller_still_sees_running() -> None:
    """A pid the caller's own check still finds (here: always) is reported."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert procfs.stop([child.pid], grace=0.1, running=lambda pid: True) == [child.pid]
    finally:
        child.kill()
        child.wait()
