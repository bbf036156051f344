"""Hygiene: names checked before they reach a path or a command, and the one
global sysctl the product sets (the lab benchmark's bpf_stats_enabled) put
back, also when benchmark runs overlap or one is killed outright."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_bench.labflood import STATS_SYSCTL
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.console_backend import ConsoleError
from l4lb_tui.console_kernel import RealBackend
from l4lb_tui.netlink import NetlinkError
from l4lb_tui.paths import RUN_DIR
from tests.conftest import run, veth_netns
from tests.faults.faults_support import ROOT, l4lb

BAD_NAMES = ["../../etc/passwd", "..", ".", "", "a" * 16, "eth 0", "eth0/x", "eth0:x", "a\tb"]
# Names the kernel takes (dev_valid_name) though a shell would not: they are
# names like any other, never reach a shell, and here name nothing.
SHELLISH = ["eth0;reboot", "$(id)", "`id`", "-x", "a|b"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_interface_names_refused_before_use(name: str) -> None:
    with pytest.raises(NetlinkError, match="is not a valid interface name"):
        Balancer(name)
    with pytest.raises(ConsoleError, match="is not a valid interface name"):
        RealBackend().sample(name)


@pytest.mark.kernel
@pytest.mark.parametrize("name", SHELLISH)
def test_shell_looking_names_are_names_and_run_nothing(name: str) -> None:
    with pytest.raises(BalancerError, match=f"interface {re.escape(name)} does not exist"):
        Balancer(name)
    with pytest.raises(ConsoleError, match="does not exist"):
        RealBackend().sample(name)
    res = l4lb("attach", f"--interface={name}")  # '-i -x' would read -x as an option
    assert res.returncode == 2 and "does not exist" in res.stderr, res
    assert len(res.stderr.strip().splitlines()) == 1, res


@pytest.mark.kernel
def test_cli_refuses_bad_names_and_creates_nothing() -> None:
    before = set(os.listdir(RUN_DIR)) if RUN_DIR.is_dir() else set()
    for name in ("../../etc/x", "eth0/reboot", "a" * 16):
        for args in (("attach", "-i", name), ("stats", "-i", name, "--once")):
            res = l4lb(*args)
            assert res.returncode == 2 and "is not a valid interface name" in res.stderr, res
    for args in (("attach", "-i", "eth0;reboot"), ("stats", "-i", "eth0;reboot", "--once")):
        res = l4lb(*args)
        assert res.returncode == 2 and "interface eth0;reboot does not exist" in res.stderr, res
    for name in ("../../etc", "a/b", ".."):
        res = l4lb("--netns", name, "stats", "-i", "lo", "--once")
        assert res.returncode == 2 and "is not a valid network namespace name" in res.stderr
    # A name `ip netns add` takes (t12 finding 6): a namespace that is not there.
    res = l4lb("--netns", "h12 a b", "stats", "-i", "lo", "--once")
    assert res.returncode == 2 and "network namespace h12 a b does not exist" in res.stderr
    after = set(os.listdir(RUN_DIR)) if RUN_DIR.is_dir() else set()
    assert not {n for n in after - before if "etc" in n or "reboot" in n}


# A stand-in for a benchmark run: it holds `sandbox.sysctl` until its stdin
# closes.  It runs in a namespace of the test with a run directory of its
# own, on a sysctl of that namespace: nothing global changes, and the
# benchmarks the other tests run keep their own marks.
HOLDER = """
import sys
from l4lb_tui.netlink import enter_netns
enter_netns(sys.argv[1])
from l4lb_bench import sandbox
if sys.argv[3] == "reap":
    sandbox.reap_stale()
    print(sandbox.read_sysctl(sys.argv[2]), flush=True)
    sys.exit()
with sandbox.sysctl(sys.argv[2], "1") as old:
    print(old, sandbox.read_sysctl(sys.argv[2]), flush=True)
    sys.stdin.read()
"""
KEY = "net.ipv4.conf.all.forwarding"


@pytest.fixture
def bench_env(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    with veth_netns("l4y") as (ns, _, _):
        run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"{KEY}=0"])
        yield ns, dict(os.environ, L4LB_RUN_DIR=str(tmp_path))


def value(ns: str) -> str:
    return run(["ip", "netns", "exec", ns, "sysctl", "-n", KEY]).stdout.strip()


def hold(ns: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """A holder started and inside its block; the old value it saw."""
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", HOLDER, ns, KEY, "hold"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert proc.stdout is not None
    old, now = proc.stdout.readline().split()
    assert now == "1"
    return proc, old


def release(proc: subprocess.Popen[str]) -> None:
    proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_the_benchmark_sets_its_sysctl_through_the_restoring_helper() -> None:
    source = (ROOT / "l4lb_bench/labflood.py").read_text()
    assert STATS_SYSCTL == "kernel.bpf_stats_enabled"
    assert "sandbox.sysctl(STATS_SYSCTL, " in source


@pytest.mark.kernel
def test_sysctl_put_back_when_runs_overlap(bench_env: tuple[str, dict[str, str]]) -> None:
    ns, env = bench_env
    assert value(ns) == "0"
    first, old = hold(ns, env)
    second, old_too = hold(ns, env)
    assert old == old_too == "0", "the second run must put back what was there before both"
    release(first)
    assert value(ns) == "1", "the first run out must leave it to the second"
    release(second)
    assert value(ns) == "0"


@pytest.mark.kernel
def test_sysctl_put_back_after_sigkill(bench_env: tuple[str, dict[str, str]]) -> None:
    ns, env = bench_env
    proc, _ = hold(ns, env)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert value(ns) == "1"
    reaper = subprocess.run(  # noqa: S603
        [sys.executable, "-c", HOLDER, ns, KEY, "reap"], capture_output=True, text=True, env=env
    )
    assert reaper.stdout.split() == ["0"], reaper.stderr
    assert not list(Path(env["L4LB_RUN_DIR"]).glob("bench-sysctl/*")), "the mark stayed"
