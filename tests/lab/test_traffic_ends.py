"""`l4lb lab traffic` takes its traffic generators with it however it ends:
SIGTERM, SIGHUP or SIGINT to its process alone, or its reader leaving
(tester's F7: SIGTERM left hping3 flooding).  Real processes: the command,
`ip netns exec`, hping3 and the request client, in a client namespace of
the test's own whose veth's peer takes the flood.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lab_support import require_root

from l4lb_tui import procfs
from l4lb_tui.lab import names
from l4lb_tui.netlink import Netlink

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).parents[2]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)  # noqa: S603


@pytest.fixture
def prefix() -> Iterator[str]:
    """A lab prefix whose client namespace alone exists: the client's veth,
    with the VIP's neighbour entry pointing at its peer, in the same
    namespace (the flood goes nowhere else)."""
    require_root()
    made = f"i12{secrets.token_hex(2)}"
    client = names.client(made)
    _ip("netns", "add", client.ns)
    try:
        _ip(
            "-n",
            client.ns,
            "link",
            "add",
            client.ifname,
            "type",
            "veth",
            "peer",
            "name",
            client.port,
        )
        for link in (client.ifname, client.port):
            _ip("-n", client.ns, "link", "set", link, "up")
        _ip("-n", client.ns, "address", "add", f"{names.CLIENT_ADDR}/24", "dev", client.ifname)
        peer_mac = Netlink(client.ns).link(client.port).mac
        _ip("-n", client.ns, "neigh", "add", names.VIP, "lladdr", peer_mac, "dev", client.ifname)
        yield made
    finally:
        _ip("netns", "del", client.ns)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def wait_for(check: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def start(prefix: str, *args: str) -> tuple[subprocess.Popen[bytes], list[int]]:
    """`l4lb lab traffic ARGS` for far longer than the test, once its
    generators run: the command and their pids."""
    cmd = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "lab", "traffic", "--prefix", prefix, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    want = 2 if "--flood" in args else 1
    wait_for(lambda: len(children(cmd.pid)) >= want, "the traffic never started")
    kids = children(cmd.pid)
    made = [procfs.cmdline(k) for k in kids]
    assert all(("hping3" if want == 2 else "l4lb_tui.lab.traffic") in c for c in made), made
    return cmd, kids


def ended(cmd: subprocess.Popen[bytes], kids: list[int]) -> None:
    try:
        cmd.wait(timeout=60)
        wait_for(lambda: not any(procfs.alive(k) for k in kids), "a traffic generator outlived it")
    finally:
        for pid in (cmd.pid, *kids):
            if procfs.alive(pid):
                os.kill(pid, signal.SIGKILL)
        cmd.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_to_the_command_ends_its_flood(prefix: str, signum: int) -> None:
    cmd, kids = start(prefix, "--flood", "--duration", "300")
    os.kill(cmd.pid, signum)
    ended(cmd, kids)


def test_a_signal_to_the_command_ends_its_requests(prefix: str) -> None:
    cmd, kids = start(prefix, "--count", "1000000", "--duration", "3000")
    os.kill(cmd.pid, signal.SIGTERM)
    ended(cmd, kids)


@pytest.mark.parametrize(
    "args", [("--flood", "--duration", "300"), ("--count", "1000000", "--duration", "3000")]
)
def test_a_reader_that_leaves_ends_the_traffic(prefix: str, args: tuple[str, ...]) -> None:
    cmd, kids = start(prefix, *args)
    assert cmd.stdout is not None
    cmd.stdout.close()  # as `l4lb lab traffic --flood | true` would
    ended(cmd, kids)
    assert cmd.stderr is not None
    said = cmd.stderr.read()
    assert cmd.returncode == 128 + signal.SIGPIPE and said == b"", said
