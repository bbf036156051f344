"""The console's dashboard when its interface is deleted, on the real kernel:
a namespace of its own (prefix `hcon`), a veth pair, the balancer attached
and loaded by the CLI, the console in a child process (deleted_flow.py)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tui_support import DATA

from tests.conftest import remove_pins_of

HERE = Path(__file__).parent
REPO = HERE.parent.parent


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)  # noqa: S603


@pytest.fixture
def loaded_netns() -> Iterator[tuple[str, str]]:
    """(netns, the lb end of a veth pair) with a balancer attached and loaded."""
    tag = uuid.uuid4().hex[:6]
    ns, dev, peer = f"hcon{tag}", f"hcon{tag}a", f"hcon{tag}b"
    run("ip", "netns", "add", ns)
    try:
        run("ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", peer)
        for link in (dev, peer):
            run("ip", "-n", ns, "link", "set", link, "up")
        cli = [sys.executable, "-m", "l4lb_tui.cli", "--netns", ns]
        for args in (
            ["attach", "-i", dev],
            ["map", "-i", dev, "-f", str(DATA / "32_destinations.csv"), "--vip", "10.0.0.4:80/tcp"],
        ):
            done = run(*cli, *args)
            assert done.returncode == 0, done.stderr
        yield ns, dev
    finally:
        run("ip", "netns", "del", ns)
        remove_pins_of(ns)


@pytest.mark.kernel
def test_a_deleted_interface_shows_no_rates_no_mode_and_detach_cleans_up(
    loaded_netns: tuple[str, str],
) -> None:
    ns, dev = loaded_netns
    proc = run(sys.executable, str(HERE / "deleted_flow.py"), ns, dev)
    output = proc.stdout + proc.stderr
    print(output)
    assert proc.returncode == 0 and "flow: ok" in proc.stdout, output[-6000:]
