"""An attach killed between its program's load and its config leaves a
program and maps with no identity, link or config: commands say the pins
are half made (not "another version of l4lb"), and detach and attach mend it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from l4lb_tui.balancer import Balancer
from l4lb_tui.paths import bpf_object
from tests.conftest import run, veth_netns

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).parents[2]


def l4lb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=60,
    )  # fmt: skip


def test_an_attach_stopped_after_its_load() -> None:
    with veth_netns("h12half") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.pin_dir.mkdir(parents=True)
        try:
            # What attach does first (control/attaching._load), and no more.
            run(["bpftool", "prog", "load", str(bpf_object("l4lb_xdp.o")), str(bal.prog_pin),
                 "type", "xdp", "pinmaps", str(bal.maps_dir)])  # fmt: skip
            res = l4lb("--netns", ns, "stats", "-i", dev, "--once")
            assert res.returncode == 2, res.stderr
            assert "half made" in res.stderr and "another version" not in res.stderr, res.stderr
            assert f"'l4lb --netns {ns} detach -i {dev}'" in res.stderr
            res = l4lb("--netns", ns, "detach", "-i", dev)
            assert res.returncode == 0, res.stderr
            res = l4lb("--netns", ns, "attach", "-i", dev)
            assert res.returncode == 0, res.stderr
            assert l4lb("--netns", ns, "stats", "-i", dev, "--once").returncode == 0
        finally:
            l4lb("--netns", ns, "detach", "-i", dev)


HOLD = (
    "import sys, time\n"
    "from l4lb_tui.lock import interface_lock\n"
    "with interface_lock(sys.argv[1]):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(120)\n"
)


def test_an_attach_under_way_is_not_called_half_made() -> None:
    """A reader during an attach (its lock held by a live process) was told
    the pins were half made and to detach them: it is told to try again."""
    with veth_netns("hfinatt") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.pin_dir.mkdir(parents=True)
        holder = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", HOLD, bal.pin_dir.name],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            run(["bpftool", "prog", "load", str(bpf_object("l4lb_xdp.o")), str(bal.prog_pin),
                 "type", "xdp", "pinmaps", str(bal.maps_dir)])  # fmt: skip
            res = l4lb("--netns", ns, "stats", "-i", dev, "--once")
            assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
            assert f"being attached by PID {holder.pid} (try again" in res.stderr, res.stderr
            assert "half made" not in res.stderr
            holder.kill()
            holder.wait()
            res = l4lb("--netns", ns, "stats", "-i", dev, "--once")
            assert res.returncode == 2 and "half made" in res.stderr, res.stderr
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
            l4lb("--netns", ns, "detach", "-i", dev)
