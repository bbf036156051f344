"""Faults around the program: two writers, crashes, stale pins, missing tools,
no privilege.  Each gets a clear message and loses nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from l4lb_tui.balancer import Balancer
from l4lb_tui.lock import lock_path
from l4lb_tui.privilege import CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN, missing_capabilities
from tests.conftest import DATA, run
from tests.faults.faults_support import (
    ROOT,
    SVC,
    kill_at_random,
    l4lb,
    path_with_only,
    reload_bed,
    root_without_caps,
    wait_for_group,
)

pytestmark = pytest.mark.kernel


def test_second_writer_gets_pid_and_may_wait(wired: tuple[str, str, str]) -> None:
    ns, dev, _ = wired
    assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
    lock = Balancer(dev, netns=ns).pin_dir.name  # the balancer's identity
    holder = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-c",
            (
                "import sys, time\n"
                "from l4lb_tui.lock import interface_lock\n"
                f"with interface_lock({lock!r}):\n"
                "    print('held', flush=True); time.sleep(2)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        res = l4lb("--netns", ns, "map", "-i", dev, "-f", str(DATA / "32_destinations.csv"))
        assert res.returncode == 2
        assert f"in use by PID {holder.pid}" in res.stderr
        # Readers never block.
        stats = l4lb("--netns", ns, "stats", "-i", dev, "--once", "--json")
        assert stats.returncode == 0 and json.loads(stats.stdout)["backends"] == []
        res = l4lb(
            "--netns", ns, "--wait", "10", "map", "-i", dev, "-f", str(DATA / "32_destinations.csv")
        )
        assert res.returncode == 0, res.stderr
    finally:
        holder.wait(timeout=10)


def test_sigkill_during_reload_leaves_old_or_new_set(
    wired: tuple[str, str, str], tmp_path: Path
) -> None:
    """CLI reloads killed at random points, under a flood: every time, the
    service serves exactly the old or the new set, never a mix or nothing."""
    with reload_bed(wired, tmp_path) as bed:

        def reload(target: str) -> subprocess.Popen[str]:
            return subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "l4lb_tui.cli", "--netns", bed.ns, "--wait", "5",
                 "map", "-i", bed.dev, "-f", str(bed.files[target]), "--vip", SVC],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=ROOT,
                start_new_session=True,
            )  # fmt: skip

        # A reload takes about a second end to end: kill before, during and
        # after its final write.
        outcomes = kill_at_random(bed, reload, kills=12, latest=3.0, seed=11)
        print(f"\nCRASH outcomes after 12 kills: {outcomes}")
        assert len(set(outcomes)) == 2, "the kills should land both before and after a flip"
        # The next run recovers cleanly from whatever was left.
        res = l4lb(
            "--netns", bed.ns, "map", "-i", bed.dev, "-f", str(bed.files["big"]), "--vip", SVC
        )
        assert res.returncode == 0, res.stderr
        assert bed.served() == "big"


# A writer killed the moment bpftool starts on its reload's batch: the point
# random kills rarely hit.  Whatever bpftool has been handed by then (with a
# pipe, half the lines) is all it will ever run.
DIE_IN_THE_BATCH = """
import os, signal, subprocess, sys
from pathlib import Path
from l4lb_tui.netlink import enter_netns
enter_netns(sys.argv[1])
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import read_destinations
from l4lb_tui.abi import ServiceKey
run = subprocess.run
def die_in_the_batch(argv, **kw):
    if "batch" not in argv:
        return run(argv, **kw)
    text = kw.get("input")
    proc = subprocess.Popen(argv, stdin=kw.get("stdin") if text is None else subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    if text is not None:
        proc.stdin.write(text[: len(text) // 2])
        proc.stdin.flush()
    os.kill(os.getpid(), signal.SIGKILL)
subprocess.run = die_in_the_batch
key = ServiceKey("10.0.0.4", 9000, 17)
Balancer(sys.argv[2]).load([key], read_destinations(Path(sys.argv[3])))
"""


def test_sigkill_while_bpftool_runs_the_batch(wired: tuple[str, str, str], tmp_path: Path) -> None:
    with reload_bed(wired, tmp_path) as bed:
        for target in ("half", "big"):
            proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-c", DIE_IN_THE_BATCH, bed.ns, bed.dev, str(bed.files[target])],
                cwd=ROOT,
                start_new_session=True,
                text=True,
            )
            wait_for_group(proc)
            assert proc.returncode == -signal.SIGKILL
            assert bed.served() == target, "the batch handed over must run whole"
        bed.assert_nothing_dropped()


def test_program_detached_or_replaced_outside(wired: tuple[str, str, str]) -> None:
    ns, dev, _ = wired
    assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
    assert (
        l4lb("--netns", ns, "map", "-i", dev, "-f", str(DATA / "32_destinations.csv")).returncode
        == 0
    )
    run(["ip", "-n", ns, "link", "set", "dev", dev, "xdp", "off"])
    doc = json.loads(l4lb("--netns", ns, "stats", "-i", dev, "--once", "--json").stdout)
    assert doc["mode"] == "detached" and len(doc["backends"]) == 32
    res = l4lb("--netns", ns, "attach", "-i", dev)
    assert res.returncode == 0 and "attached" in res.stdout
    doc = json.loads(l4lb("--netns", ns, "stats", "-i", dev, "--once", "--json").stdout)
    assert doc["mode"] == "driver" and len(doc["backends"]) == 32, "state survives in the pins"
    # Someone else's program replaces ours.
    run(["ip", "-n", ns, "link", "set", "dev", dev, "xdp", "off"])
    run(
        [
            "ip",
            "-n",
            ns,
            "link",
            "set",
            "dev",
            dev,
            "xdpdrv",
            "obj",
            str(ROOT / "bpf/l4lb_pass.o"),
            "sec",
            "xdp",
        ]
    )
    res = l4lb("--netns", ns, "attach", "-i", dev)
    assert res.returncode == 2 and "already runs XDP program id" in res.stderr
    res = l4lb("--netns", ns, "detach", "-i", dev)
    assert res.returncode == 0 and "left it alone" in res.stdout
    assert "xdp" in run(["ip", "-n", ns, "link", "show", dev]).stdout


def test_stale_half_made_pins_recover(wired: tuple[str, str, str]) -> None:
    ns, dev, _ = wired
    stale = Balancer(dev, netns=ns).maps_dir
    stale.mkdir(parents=True)
    res = l4lb("--netns", ns, "attach", "-i", dev)
    assert res.returncode == 0, res.stderr


def test_interface_missing_and_deleted(wired: tuple[str, str, str]) -> None:
    ns, dev, _ = wired
    res = l4lb("--netns", ns, "attach", "-i", "nosuch0")
    assert res.returncode == 2 and "does not exist" in res.stderr
    assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
    pins = Balancer(dev, netns=ns).pin_dir
    run(["ip", "-n", ns, "link", "del", dev])
    res = l4lb("--netns", ns, "stats", "-i", dev, "--once")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"l4lb detach -i {dev}' removes them" in res.stderr, res.stderr
    res = l4lb("--netns", ns, "detach", "-i", dev)
    assert res.returncode == 0 and f"{dev} no longer exists in network namespace {ns}" in res.stdout
    assert "removed its pins" in res.stdout
    assert not pins.exists()


def test_missing_bpftool_and_objects(wired: tuple[str, str, str], tmp_path: Path) -> None:
    ns, dev, _ = wired
    env = path_with_only(tmp_path / "bin", "nsenter", "mount")
    res = l4lb("--netns", ns, "attach", "-i", dev, env=env)
    assert res.returncode == 2 and "bpftool not found" in res.stderr
    env = dict(os.environ, L4LB_BPF_DIR=str(tmp_path))
    res = l4lb("--netns", ns, "attach", "-i", dev, env=env)
    assert res.returncode == 2, res.stderr
    assert f"is not built: run 'make -C {tmp_path}' (it needs clang" in res.stderr
    assert "Traceback" not in res.stderr


PRIVILEGED = [
    ("attach", "-i", "lo"),
    ("detach", "-i", "lo"),
    ("map", "-i", "lo", "-f", str(DATA / "32_destinations.csv")),
    ("backend", "drain", "-i", "lo", "--vip", SVC, "--ip", "10.0.0.5"),
    ("service", "del", "-i", "lo", "--vip", SVC),
    ("stats", "-i", "lo", "--once"),
    ("lab", "status"),
    ("bench", "lab", "--quick"),
]


@pytest.mark.parametrize("args", PRIVILEGED, ids=lambda a: " ".join(a[:2]))
def test_not_root_gets_one_line_saying_so(args: tuple[str, ...]) -> None:
    res = l4lb(*args, user="nobody")
    assert res.returncode == 2, res.stdout
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    assert "needs root" in res.stderr or "must run as root" in res.stderr, res.stderr


def test_not_root_may_read_help_and_check_files(tmp_path: Path) -> None:
    for args in (("--help",), ("tui", "--help"), ("map", "--help")):
        res = l4lb(*args, user="nobody")
        assert res.returncode == 0 and "usage: l4lb" in res.stdout, res.stderr
    res = l4lb("check", str(DATA / "32_destinations.csv"), user="nobody")
    assert res.returncode == 0 and "32 destinations, no errors" in res.stdout, res.stderr
    # pytest's own temporary directories are root's alone: a clear refusal.
    bad = tmp_path / "bad.csv"
    bad.write_text("10.0.0.1, 02:00:00:00:00:01\n10.0.0.300, 02:00:00:00:00:02\n")
    res = l4lb("check", str(bad), user="nobody")
    assert res.returncode == 2 and res.stderr == f"l4lb: error: {bad}: permission denied\n"
    with tempfile.TemporaryDirectory(prefix="l4lb-nobody-") as shared:
        os.chmod(shared, 0o755)
        readable = Path(shutil.copy(bad, shared))
        res = l4lb("check", str(readable), user="nobody")
    assert res.returncode == 2 and f"{readable}: line 2: '10.0.0.300' is not an IPv4" in res.stderr


def test_root_without_capabilities_is_told_which(wired: tuple[str, str, str]) -> None:
    ns, dev, _ = wired
    assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
    for args in (("attach", "-i", dev), ("stats", "-i", dev, "--once"), ("detach", "-i", dev)):
        res = l4lb(*args, prefix=root_without_caps(ns))
        assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
        assert "needs CAP_BPF and CAP_NET_ADMIN, which this process lacks" in res.stderr
    assert l4lb("--netns", ns, "stats", "-i", dev, "--once").returncode == 0, "nothing changed"


def test_capabilities_read_from_proc_status() -> None:
    def status(eff: int) -> str:
        return f"Name:\tx\nCapEff:\t{eff:016x}\n"

    full = (1 << 41) - 1
    assert missing_capabilities(status(full)) == []
    assert missing_capabilities(status(1 << CAP_SYS_ADMIN | 1 << CAP_NET_ADMIN)) == []
    assert missing_capabilities(status(1 << CAP_BPF)) == ["CAP_NET_ADMIN"]
    assert missing_capabilities(status(0)) == ["CAP_BPF", "CAP_NET_ADMIN"]
    assert missing_capabilities("no such line") == []


def test_writers_leave_no_lock_file(wired: tuple[str, str, str]) -> None:
    """A writer removes its lock file when it lets go (detach while it holds
    it): none piles up, however many writers came and went."""
    ns, dev, _ = wired
    lock = lock_path(Balancer(dev, netns=ns).pin_dir.name)
    assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
    assert not lock.exists()
    assert l4lb("--netns", ns, "detach", "-i", dev).returncode == 0
    assert not lock.exists()


def test_interface_down_and_renamed(wired: tuple[str, str, str]) -> None:
    ns, dev, _ = wired
    run(["ip", "-n", ns, "link", "set", dev, "down"])
    res = l4lb("--netns", ns, "attach", "-i", dev)
    assert res.returncode == 0 and f"{dev} is down" in res.stderr
    run(["ip", "-n", ns, "link", "set", dev, "up"])
    new = dev[:-1] + "z"
    run(["ip", "-n", ns, "link", "set", dev, "down"])
    run(["ip", "-n", ns, "link", "set", dev, "name", new])
    # The balancer went with the interface; the old name says where.
    res = l4lb("--netns", ns, "stats", "-i", dev, "--once")
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert f"it was renamed to {new} (use -i {new})" in res.stderr, res.stderr
    res = l4lb("--netns", ns, "stats", "-i", new, "--once")
    assert res.returncode == 0 and f"interface {new}" in res.stdout, res.stderr
    res = l4lb("--netns", ns, "attach", "-i", new)
    assert res.returncode == 0 and f"already attached to {new}" in res.stdout, res.stderr
    run(["ip", "-n", ns, "link", "set", new, "name", dev])
    assert l4lb("--netns", ns, "detach", "-i", dev).returncode == 0


def test_ip_netns_exec_gets_advice(wired: tuple[str, str, str]) -> None:
    ns, dev, _ = wired
    res = subprocess.run(  # noqa: S603
        ["ip", "netns", "exec", ns, sys.executable, "-m", "l4lb_tui.cli", "attach", "-i", dev],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert res.returncode == 2 and "l4lb --netns NAME" in res.stderr, res.stderr


KILLED_MID_BATCH = """
import os, signal, sys, threading
from l4lb_tui.bpftool import Bpftool
from l4lb_tui.lock import interface_lock
with interface_lock("lk0") as fd:
    tool = Bpftool(binary="/bin/sh")
    tool.keep_fds = (fd,)  # as Balancer.writing does
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGKILL)).start()
    tool.call(["-c", "sleep 2"], json_output=False)  # stands in for a long batch
"""


def test_a_killed_writers_lock_holds_until_its_bpftool_is_done(tmp_path: Path) -> None:
    """A writer SIGKILLed while bpftool runs its batch: the next writer must
    not plan against a half-applied reload, so the lock lasts as long as that
    bpftool (it holds the same open file)."""
    env = {**os.environ, "L4LB_RUN_DIR": str(tmp_path), "L4LB_LOCK_DIR": str(tmp_path)}
    writer = subprocess.run(  # noqa: S603
        [sys.executable, "-c", KILLED_MID_BATCH], cwd=ROOT, env=env, check=False, timeout=30
    )
    assert writer.returncode == -signal.SIGKILL
    probe = (
        "import time\nfrom l4lb_tui.lock import interface_lock, LockedError\n"
        "try:\n    interface_lock('lk0').__enter__()\nexcept LockedError as e:\n    print(e)\n"
        "else:\n    print('free')\n"
    )

    def other_writer() -> str:
        res = subprocess.run(  # noqa: S603
            [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
        )
        return res.stdout.strip()

    assert "lk0 is in use by PID" in other_writer(), "the batch is still running"
    deadline = time.monotonic() + 10
    while other_writer() != "free":
        assert time.monotonic() < deadline, "the lock outlived the batch"
        time.sleep(0.2)
