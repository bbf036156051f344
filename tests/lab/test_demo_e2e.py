"""`l4lb demo` end to end: a lab balanced by the daemon from the lab's config,
IPv4 and IPv6 services checked through the probe tunnel, backend 2's server
failing now and then and the daemon's health checks draining and restoring
it at both its addresses (seen in the event log), and everything the demo
started gone when it is left.  Run as root."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from lab_support import unique_prefix

from l4lb_tui import events
from l4lb_tui.lab import Lab
from l4lb_tui.netlink import namespaces
from tests.killed_reload import ROOT, kill_group

pytestmark = pytest.mark.kernel


def health_lines(since: float) -> list[str]:
    return [e.what for e in events.read() if e.who == "health" and e.at >= since]


def down_and_up(lines: list[str], ip: str) -> bool:
    down = [i for i, w in enumerate(lines) if f"{ip}:" in w and "down" in w]
    return bool(down) and any(f"{ip}:" in w and " up" in w for w in lines[down[0] + 1 :])


def test_the_demo_shows_a_failing_backend_drained_and_back() -> None:
    prefix = unique_prefix()
    started = time.time()
    demo = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "demo", "--prefix", prefix, "--view", "stats",
         "--fail-every", "4"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    lab = Lab(prefix=prefix, backends=3)
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            lines = health_lines(started)
            seen = lines
            if all(down_and_up(lines, ip) for ip in ("10.0.0.12", "fd00::12")):
                break
            assert demo.poll() is None, demo.stdout.read() if demo.stdout else ""
            time.sleep(0.5)
        else:
            raise AssertionError(f"backend 2 was not drained and restored: {seen}")
        tunnelled = "health checks go through the probe tunnel to the VIP, from"
        assert {f"{tunnelled} 10.0.0.3", f"{tunnelled} fd00::3"} <= set(seen), seen
        os.killpg(demo.pid, signal.SIGINT)
        out, _ = demo.communicate(timeout=60)
        assert "the daemon balances the lab" in out
        assert f"lab {prefix} taken down" in out
        assert not [ns for ns in namespaces.listed() if ns.startswith(prefix)]
    finally:
        if demo.poll() is None:
            kill_group(demo)  # type: ignore[arg-type]
        lab.down()
