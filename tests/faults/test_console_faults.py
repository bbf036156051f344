"""The console meeting the faults the CLI meets, on the real kernel: another
writer holding the interface, a SIGKILL in the middle of a reload, not root,
`ip netns exec`, missing objects, stale pins, an interface changed under it.

Each console runs in a child process (tests/faults/console_flow.py) driven
by Pilot; this process never leaves its namespace.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from l4lb_tui.balancer import Balancer
from l4lb_tui.lock import interface_lock
from tests.conftest import DATA, veth_netns
from tests.faults.faults_support import (
    ROOT,
    SVC,
    console_argv,
    console_flow,
    kill_at_random,
    l4lb,
    path_with_only,
    reload_bed,
    root_without_caps,
)

pytestmark = pytest.mark.kernel


def test_console_locked_by_another_writer_changes_nothing(wired: tuple[str, str, str]) -> None:
    """Drain, mode, detach and load from the console while another process
    holds the interface: "in use by PID N" each time, the maps untouched."""
    ns, dev, _ = wired
    assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
    res = l4lb(
        "--netns", ns, "map", "-i", dev, "-f", str(DATA / "32_destinations.csv"), "--vip", SVC
    )
    assert res.returncode == 0, res.stderr
    # This test process is the other writer (the CLI takes the same lock).
    with interface_lock(Balancer(dev, netns=ns).pin_dir.name):
        out = console_flow(
            "locked", dev, str(os.getpid()), str(DATA / "128_destinations.csv"), netns=ns
        )
    assert "polls go on while locked" in out
    # Once the lock is free the CLI writes again.
    res = l4lb("--netns", ns, "backend", "drain", "-i", dev, "--vip", SVC, "--ip", "10.0.89.127")
    assert res.returncode == 0, res.stderr


def test_console_faults_each_get_a_message(tmp_path: Path) -> None:
    """Objects missing, stale pins, detached and replaced outside, down,
    renamed and deleted while watched, all from the keyboard."""
    with veth_netns("l4k") as (ns, dev, _):
        subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)  # noqa: S603
        out = console_flow("faults", dev, str(tmp_path), netns=ns)
    assert "deleted while watched" in out


def test_console_inside_ip_netns_exec_gets_advice() -> None:
    with veth_netns("l4k") as (ns, dev, _):
        out = console_flow(
            "refused", dev, "'l4lb --netns NAME ...'", prefix=["ip", "netns", "exec", ns]
        )
        assert not Balancer(dev, netns=ns).is_loaded()
    assert "bpffs is not mounted" in out


def test_console_without_bpftool_says_what_to_install(tmp_path: Path) -> None:
    with veth_netns("l4k") as (ns, dev, _):
        env = path_with_only(tmp_path / "bin")
        out = console_flow("refused", dev, "apt-get install bpftool", netns=ns, env=env)
    assert "bpftool not found" in out


def test_console_on_a_missing_interface() -> None:
    console_flow("missing", "l4lbnosuch0")


def test_console_not_root_is_told_to_use_sudo() -> None:
    out = console_flow("refused", "lo", "restart the console with sudo", user="nobody")
    assert "attaching needs root" in out


def test_console_as_root_without_capabilities_is_told_which() -> None:
    with veth_netns("l4k") as (ns, dev, _):
        out = console_flow("refused", dev, "which this process lacks", prefix=root_without_caps(ns))
    assert "needs CAP_BPF and CAP_NET_ADMIN" in out


def test_sigkill_console_during_reload_leaves_old_or_new_set(
    wired: tuple[str, str, str], tmp_path: Path
) -> None:
    """Console reloads under a flood, killed at random points: the old or
    the new set every time; then a console reload goes through."""

    def reload(target: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(  # noqa: S603
            console_argv("reload", bed.dev, str(bed.files[target])),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env=dict(os.environ, L4LB_FLOW_NETNS=bed.ns),
            start_new_session=True,
        )
        assert proc.stdout is not None
        # Time the kill from the key press, not from Python's start.
        for line in proc.stdout:
            if "step: applying" in line:
                return proc
        proc.wait()
        raise AssertionError(f"the console exited with {proc.returncode} before applying")

    with reload_bed(wired, tmp_path) as bed:
        # One reload untouched, to learn how long it takes here.
        out = console_flow("reload", bed.dev, str(bed.files["half"]), netns=bed.ns)
        took = float(out.split("step: applied in ")[1].split()[0])
        assert bed.served() == "half"
        outcomes = kill_at_random(bed, reload, kills=6, latest=1.5 * took, seed=7)
        print(f"\nCONSOLE CRASH outcomes after 6 kills (reload {took:.2f} s): {outcomes}")
        assert len(set(outcomes)) == 2, "the kills should land both before and after a flip"
        # The next console recovers cleanly from whatever was left.
        console_flow("reload", bed.dev, str(bed.files["big"]), netns=bed.ns)
        assert bed.served() == "big"
