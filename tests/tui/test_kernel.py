"""The console against the real kernel: a namespace, a veth pair, real XDP.

Each flow runs in a child process that enters the namespace before starting
any thread (see kernel_flow.py); this process never leaves its own.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tui_support import DATA

HERE = Path(__file__).parent
REPO = HERE.parent.parent


def flow(name: str, netns: tuple[str, str, str], workdir: Path) -> str:
    ns, dev, peer = netns
    argv = [sys.executable, str(HERE / "kernel_flow.py"), name, ns, dev, peer, str(workdir)]
    proc = subprocess.run(  # noqa: S603 - argv list
        argv, capture_output=True, text=True, timeout=240, cwd=REPO, check=False
    )
    output = proc.stdout + proc.stderr
    print(output)  # the steps, shown with -s or on failure
    assert proc.returncode == 0 and "flow: ok" in proc.stdout, output[-6000:]
    return output


def cli(ns: str, *args: str) -> None:
    argv = [sys.executable, "-m", "l4lb_tui.cli", "--netns", ns, *args]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)  # noqa: S603
    assert proc.returncode == 0, proc.stderr


@pytest.mark.kernel
def test_attach_load_drain_edit_delete_save_detach(
    tui_netns: tuple[str, str, str], tmp_path: Path
) -> None:
    shutil.copy(DATA / "32_destinations.csv", tmp_path)
    output = flow("edit", tui_netns, tmp_path)
    for step in ("undo removes the service", "drain the backend, undrain it", "save the list"):
        assert step in output, output[-6000:]


@pytest.mark.kernel
def test_running_balancer_shows_backends_and_live_rates(
    tui_netns: tuple[str, str, str], tmp_path: Path
) -> None:
    ns, dev, _ = tui_netns
    cli(ns, "attach", "-i", dev)
    cli(ns, "map", "-i", dev, "-f", str(DATA / "32_destinations.csv"), "--vip", "10.0.0.4:9000/udp")
    try:
        output = flow("running", tui_netns, tmp_path)
    finally:
        cli(ns, "detach", "-i", dev)
    assert "step: live:" in output and "its established flows go on" in output


@pytest.mark.kernel
def test_readonly_console_beside_a_writer_holding_the_lock(
    tui_netns: tuple[str, str, str], tmp_path: Path
) -> None:
    ns, dev, _ = tui_netns
    cli(ns, "attach", "-i", dev)
    cli(ns, "map", "-i", dev, "-f", str(DATA / "32_destinations.csv"), "--vip", "10.0.0.4:9000/udp")
    try:
        output = flow("readonly", tui_netns, tmp_path)
    finally:
        cli(ns, "detach", "-i", dev)
    assert "a write asked directly is refused" in output
