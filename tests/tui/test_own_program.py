"""A poll racing a change of the balancer's pins never calls the balancer's
own program foreign (issue 14: "runs another XDP program (id 988)", and 988
was the balancer).  Real kernel: a namespace, a veth, the real program."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import veth_netns

REPO = Path(__file__).parent.parent.parent

# In a child process: it enters the namespace before any thread starts.
FLOW = """
import os, subprocess, sys
from l4lb_tui.netlink import enter_netns
ns, dev = sys.argv[1:3]
enter_netns(ns)
from l4lb_tui.console_backend import ConsoleError
from l4lb_tui.console_kernel import RealBackend
from l4lb_tui.balancer import Balancer
backend = RealBackend()
first = backend.sample(dev)
assert first.state is not None, first.notes
pin = Balancer(dev).prog_pin
os.unlink(pin)  # what a poll sees in the middle of a re-pin; it stays attached
try:
    try:
        during = backend.sample(dev)
        print("DURING", during.state is not None, during.notes)
    except ConsoleError as exc:
        print("DURING error", exc)
finally:
    pinned = ["bpftool", "prog", "pin", "id", str(first.state.prog_id), str(pin)]
    subprocess.run(pinned, check=True)
after = backend.sample(dev)
print("AFTER", after.state is not None, after.notes)
"""


def cli(ns: str, *args: str) -> None:
    argv = [sys.executable, "-m", "l4lb_tui.cli", "--netns", ns, *args]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr


@pytest.mark.kernel
def test_a_poll_mid_change_never_calls_our_program_foreign() -> None:
    with veth_netns("i14a") as (ns, dev, _peer):
        cli(ns, "attach", "-i", dev, "--mode", "generic")
        argv = [sys.executable, "-c", FLOW, ns, dev]
        done = subprocess.run(  # noqa: S603 - argv list
            argv, capture_output=True, text=True, cwd=REPO, timeout=60, check=False
        )
        out = done.stdout + done.stderr
        cli(ns, "detach", "-i", dev)
    assert done.returncode == 0, out
    assert "another XDP program" not in out, out
    assert "DURING error" in out and "is being changed" in out, out
    assert "AFTER True" in out, out
