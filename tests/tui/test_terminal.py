"""The real console in a real terminal (tmux), read with capture-pane: signals
restore the terminal; at 80x24 on the lab, the flow's screen (issue 14)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from terminal_support import REPO, Tmux, assert_restored, console_argv

from l4lb_tui.lab import Lab

SMALL = (80, 24)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    made = Tmux("i14a", SMALL)
    try:
        yield made
    finally:
        made.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_restores_the_terminal(tmux: Tmux, tmp_path: Path, sig: signal.Signals) -> None:
    pidfile = tmp_path / "pid"
    tmux.start(console_argv("--demo"), pidfile)
    tmux.wait_for("backends")
    assert tmux.flags()["alternate_on"] == "1"
    os.kill(int(pidfile.read_text()), sig)
    shown = tmux.wait_for("EXIT=")
    assert f"EXIT={128 + sig}" in shown
    assert f"{sig.name} received, console closed" in shown
    assert_restored(tmux)


def cli(ns: str, *args: str) -> None:
    argv = [sys.executable, "-m", "l4lb_tui.cli", "--netns", ns, *args]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr


@pytest.fixture
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.fail("the lab builds network namespaces and attaches XDP: run as root")
    built = Lab(prefix=f"i14a{secrets.token_hex(1)}", backends=3)
    try:
        built.up()
        yield built
    finally:
        built.down()


@pytest.mark.kernel
def test_80x24_on_the_lab_and_lab_down(lab: Lab, tmux: Tmux, tmp_path: Path) -> None:
    ns, dev = lab.lb_ns, lab.lb_ifname
    cli(ns, "attach", "-i", dev)
    services = (f"{lab.vip}:{lab.http_port}/tcp", f"{lab.vip}:{lab.udp_port}/udp")
    cli(ns, "map", "-i", dev, "-f", str(lab.csv_path), *(f"--vip={s}" for s in services))
    pidfile = tmp_path / "pid"
    tmux.start(console_argv("--netns", ns, "-i", dev), pidfile)
    screen = tmux.wait_for("● Driver")
    screen = tmux.wait_for("pkts/s")
    lines = screen.splitlines()
    assert len(lines) <= SMALL[1] and all(len(line) <= SMALL[0] for line in lines)
    table = [line for line in lines if lab.backend_nodes[0].addr in line]
    assert len(table) == 2, screen  # one backend in both services, every row in sight
    for node in lab.backend_nodes:
        assert node.addr in screen
    assert "Share" in screen and "pkts/s" in screen  # the columns that matter fit
    assert "no balancer" not in screen and "another XDP program" not in screen
    assert "? all keys" in lines[-1] and "palette" in lines[-1]
    assert "seconds ago" not in screen  # the chart gave way to the rows
    tmux.tmux("send-keys", "-t", "c", "j")
    tmux.tmux("send-keys", "-t", "c", "e")
    # The modal's keys in the footer, not the dashboard's.
    tmux.wait_for("Edit backend", last_line="Cancel")
    tmux.tmux("send-keys", "-t", "c", "Escape")
    tmux.wait_for("d Delete")
    # `lab down` ends what runs in its namespaces: the console says so.
    lab.down()
    shown = tmux.wait_for("EXIT=")
    assert "SIGTERM received, console closed" in shown
    assert f"it ran in namespace {ns}" in shown
    assert_restored(tmux)


def test_ctrl_z_suspends_with_the_terminal_restored_and_cont_redraws(
    tmp_path: Path,
) -> None:
    """ctrl+z was swallowed; a stopped console must give the terminal back
    (main screen, no mouse tracking) and draw itself again on SIGCONT."""
    term = Tmux("fxc", SMALL)
    pidfile = tmp_path / "pid"
    try:
        term.start(console_argv("--demo"), pidfile)
        term.wait_for("backends")
        pid = int(pidfile.read_text())
        term.tmux("send-keys", "-t", "c", "C-z")
        deadline = time.monotonic() + 30
        while _state(pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _state(pid) == "T"  # stopped
        assert_restored(term)
        os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while term.flags()["alternate_on"] != "1" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert term.flags()["alternate_on"] == "1"
        assert "backends" in term.wait_for("backends")
        os.kill(pid, signal.SIGTERM)
        term.wait_for("EXIT=")
        assert_restored(term)
    finally:
        term.kill()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
