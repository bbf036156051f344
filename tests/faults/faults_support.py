"""Helpers of the fault tests: the CLI and console flows as child processes,
a PATH without chosen tools, and a reload bed under a flood for crash tests."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from l4lb_tui import bpfsys
from l4lb_tui.abi import Reason, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import format_csv, read_destinations
from tests.conftest import DATA
from tests.killed_reload import descendants, wait_gone

ROOT = Path(__file__).parents[2]
SVC = "10.0.0.4:9000/udp"
KEY = ServiceKey("10.0.0.4", 9000, 17)


def as_user(argv: Sequence[str], user: str | None) -> list[str]:
    if not user:
        return list(argv)
    return ["setpriv", f"--reuid={user}", "--regid=65534", "--clear-groups", *argv]


def root_without_caps(ns: str) -> list[str]:
    """A prefix: root inside `ns` (host mounts kept) without CAP_BPF, CAP_SYS_ADMIN
    and CAP_NET_ADMIN, as in a locked-down container."""
    drop = "--bounding-set=-bpf,-net_admin,-sys_admin,-perfmon"
    return ["nsenter", f"--net=/run/netns/{ns}", "setpriv", drop, "--inh-caps=-all"]


def l4lb(
    *args: str,
    env: dict[str, str] | None = None,
    user: str | None = None,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    argv = as_user([*prefix, sys.executable, "-m", "l4lb_tui.cli", *args], user)
    return subprocess.run(  # noqa: S603
        argv, capture_output=True, text=True, check=False, timeout=120, env=env, cwd=ROOT
    )


def path_with_only(bin_dir: Path, *tools: str) -> dict[str, str]:
    """The environment with a PATH holding only `tools` (links to the real ones)."""
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        found = shutil.which(tool)
        assert found, f"{tool} is not installed"
        (bin_dir / tool).symlink_to(found)
    return dict(os.environ, PATH=str(bin_dir))


def console_argv(flow: str, ifname: str, *args: str, module: str = "console_flow") -> list[str]:
    return [sys.executable, "-m", f"tests.faults.{module}", flow, ifname, *args]


def console_flow(
    flow: str,
    ifname: str,
    *args: str,
    netns: str | None = None,
    prefix: Sequence[str] = (),
    user: str | None = None,
    env: dict[str, str] | None = None,
    module: str = "console_flow",
) -> str:
    """Run a flow of console_flow.py (or `module`) to the end; its output (the steps)."""
    env = dict(env or os.environ)
    if netns:
        env["L4LB_FLOW_NETNS"] = netns
    argv = as_user([*prefix, *console_argv(flow, ifname, *args, module=module)], user)
    proc = subprocess.run(  # noqa: S603
        argv, capture_output=True, text=True, timeout=240, cwd=ROOT, env=env, check=False
    )
    output = proc.stdout + proc.stderr
    print(output)  # the steps, shown with -s or on failure
    assert proc.returncode == 0 and "flow: ok" in proc.stdout, output[-6000:]
    assert "Traceback" not in output, output[-6000:]
    return output


def _frames() -> list[bytes]:
    return [
        bytes(
            Ether()
            / IP(src=f"10.7.{i // 250}.{i % 250 + 1}", dst="10.0.0.4")
            / UDP(sport=1000 + i, dport=9000)
            / Raw(b"q")
        )
        for i in range(300)
    ]


@dataclass
class ReloadBed:
    """A balancer serving the 512-backend file under a flood, and its half."""

    ns: str
    dev: str
    bal: Balancer
    files: dict[str, Path]
    sets: dict[str, set[str]]
    prog_fd: int

    def served(self) -> str:
        """Which complete set the service holds and the program sends to;
        fails on a mix or an empty table."""
        members = {b.ip for b in self.bal.members(KEY)}
        which = [name for name, ips in self.sets.items() if ips == members]
        assert which, f"a mix of {len(members)} backends after a kill"
        for frame in _frames():
            res = bpfsys.test_run(self.prog_fd, frame)
            assert res.verdict == "XDP_TX"
            assert str(Ether(res.data)[IP].dst) in members
        return which[0]

    def assert_nothing_dropped(self) -> None:
        drops = self.bal.counters().reasons
        assert drops[Reason.DROP_NO_BACKEND][0] == 0
        assert sum(v[0] for r, v in drops.items() if r.is_drop) == 0


@contextlib.contextmanager
def reload_bed(wired: tuple[str, str, str], tmp_path: Path) -> Iterator[ReloadBed]:
    ns, dev, sender = wired
    big = read_destinations(DATA / "512_destinations.csv")
    half = tmp_path / "half.csv"
    half.write_text(format_csv(big[:256]))
    files = {"big": DATA / "512_destinations.csv", "half": half}
    assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
    res = l4lb("--netns", ns, "map", "-i", dev, "-f", str(files["big"]), "--vip", SVC)
    assert res.returncode == 0, res.stderr
    bal = Balancer(dev, netns=ns)
    flood = subprocess.Popen(  # noqa: S603
        ["ip", "netns", "exec", sender, "timeout", "120", "hping3", "-q", "-2", "-p", "9000",
         "--rand-source", "--flood", "10.0.0.4"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    fd = bpfsys.obj_get(bal.prog_pin)
    try:
        yield ReloadBed(
            ns, dev, bal, files, {"big": {d.ip for d in big}, "half": {d.ip for d in big[:256]}}, fd
        )
    finally:
        os.close(fd)
        # The whole group: killing `ip netns exec` alone would orphan hping3.
        os.killpg(flood.pid, signal.SIGKILL)
        flood.wait()


def kill_writer(proc: subprocess.Popen[str]) -> None:
    """SIGKILL a writer started in a session of its own, then wait for what
    it had started (its bpftool batch runs on to its end, as it would after a
    real crash) so that the maps are read once they have settled."""
    below = descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    wait_gone(proc, below)


def wait_for_group(proc: subprocess.Popen[str]) -> None:
    """Wait for a process started in a session of its own, and then for
    every process it started."""
    wait_gone(proc, descendants(proc.pid))


def kill_at_random(
    bed: ReloadBed,
    start: Callable[[str], subprocess.Popen[str]],
    kills: int,
    latest: float,
    seed: int,
) -> list[str]:
    """Start a reload to the other set, SIGKILL it after a random delay up to
    `latest` seconds, check what is served; `kills` times.  The outcomes.

    One delay from each of `kills` equal spans of [0, latest], in random
    order: random points, yet some surely before and some after the flip.
    """
    rng = random.Random(seed)
    delays = [latest * (i + rng.random()) / kills for i in range(kills)]
    rng.shuffle(delays)
    outcomes: list[str] = []
    target = "big" if bed.served() == "half" else "half"
    for delay in delays:
        proc = start(target)
        time.sleep(delay)
        kill_writer(proc)
        outcomes.append(bed.served())
        target = "big" if outcomes[-1] == "half" else "half"
    bed.assert_nothing_dropped()
    return outcomes
