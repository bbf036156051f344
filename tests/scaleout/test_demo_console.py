"""`l4lb demo --nodes 2` in a real terminal: the console is node 1's (its
daemon's status, not "no daemon"), the node killed shows as a notification
in it, and the line is printed again once the console is left (t16 F12,
F13: it was printed into the running console and painted over)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from l4lb_tui.lab.scaleout import ScaleLab
from tests.tui.terminal_support import Tmux

pytestmark = [pytest.mark.kernel, pytest.mark.scaleout]


def test_demo_console_is_node_ones_and_says_the_kill(tmp_path: Path) -> None:
    prefix = f"x16d{uuid.uuid4().hex[:3]}"
    lab = ScaleLab(prefix, nodes=2, backends=2)
    tmux = Tmux("x16demo", (200, 50))
    argv = [sys.executable, "-m", "l4lb_tui.cli", "demo", "--nodes", "2", "--prefix", prefix,
            "--kill-after", "8"]  # fmt: skip
    try:
        tmux.start(argv, tmp_path / "pid")
        pid = lab.node_dir(1) / "daemon.pid"
        shown = tmux.wait_for("as configured · daemon ")
        assert f"as configured · daemon {pid.read_text().strip()}" in shown, shown
        tmux.wait_for("demo: killed node n2;")  # a toast: its line wraps
        tmux.tmux("send-keys", "-t", "c", "q")
        after = tmux.wait_for("EXIT=")
        said = after.split("killed node n2", 1)
        assert len(said) == 2 and "router routes 10.0.0.4 to 1 nodes" in said[1], after
    finally:
        tmux.kill()
        lab.down()
