"""A balancer node on "another host" for the tests of `apply` over SSH: a
network namespace of its own, holding a veth pair for its balancer and an
sshd of the test's own (its host key, its authorized_keys, its pid file, all
in a temporary directory), listening on the namespace's end of a veth to
this namespace.  The client side is an ssh_config with the test's key and
known_hosts.  The sshd is started with `nsenter --net` (not `ip netns
exec`, which would remount /sys and hide the bpffs): what it runs sees the
namespace's links and this host's pins, as l4lb on a real node would.
"""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import run

SSHD = "/usr/sbin/sshd"
PORT = 22
# RFC 2544's benchmarking range: no real network here; one /30 per node.
NET = "198.18"


@dataclass
class SshNode:
    tag: str
    ns: str  # the node's namespace ("the other host")
    dev: str  # its balancer's interface, in ns
    address: str  # where its sshd listens
    dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"root@{self.address}"

    @property
    def ssh_config(self) -> Path:
        return self.dir / "ssh_config"

    def start(self) -> None:
        """Start its sshd and wait until it answers."""
        self.proc = subprocess.Popen(  # noqa: S603
            ["nsenter", f"--net=/run/netns/{self.ns}", SSHD, "-D", "-e",
             "-f", str(self.dir / "sshd_config")],
            stdout=subprocess.DEVNULL, stderr=(self.dir / "sshd.log").open("ab"),
        )  # fmt: skip
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.dir / 'sshd.log').read_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.address, PORT), timeout=1.0) as sock,
            ):
                if sock.recv(64).startswith(b"SSH-"):
                    return
            time.sleep(0.1)
        raise RuntimeError("sshd did not answer within 20 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


def _files(node: SshNode) -> None:
    d = node.dir
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key")])
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "id")])
    (d / "authorized_keys").write_text((d / "id.pub").read_text())
    (d / "sshd_config").write_text(
        f"ListenAddress {node.address}:{PORT}\n"
        f"HostKey {d / 'host_key'}\n"
        f"PidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\n"
        "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PrintMotd no\nAllowTcpForwarding no\nX11Forwarding no\n"
    )
    (d / "ssh_config").write_text(
        f"Host {node.address}\n"
        f"  IdentityFile {d / 'id'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {d / 'known_hosts'}\n  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking accept-new\n"
    )


@contextlib.contextmanager
def ssh_node(tmp: Path) -> Iterator[SshNode]:
    """A node with its sshd running; everything gone afterwards, however
    the test ends."""
    tag = f"s16{uuid.uuid4().hex[:5]}"
    third, fourth = random.randrange(256), random.randrange(0, 256, 4)
    here, there = f"{NET}.{third}.{fourth + 1}", f"{NET}.{third}.{fourth + 2}"
    node = SshNode(tag, f"{tag}h", f"{tag}a", there, tmp)
    # sshd's privilege separation directory, normally made by its unit.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    run(["ip", "netns", "add", node.ns])
    try:
        ip = ["ip", "-n", node.ns]
        run([*ip, "link", "add", node.dev, "type", "veth", "peer", "name", f"{tag}b"])
        run(["ip", "link", "add", f"{tag}r", "type", "veth", "peer", "name", f"{tag}s",
             "netns", node.ns])  # fmt: skip
        run(["ip", "addr", "add", f"{here}/30", "dev", f"{tag}r"])
        run(["ip", "link", "set", f"{tag}r", "up"])
        run([*ip, "addr", "add", f"{there}/30", "dev", f"{tag}s"])
        run([*ip, "link", "set", f"{tag}s", "up"])
        run([*ip, "link", "set", "lo", "up"])
        _files(node)
        node.start()
        yield node
    finally:
        node.stop()
        run(["ip", "link", "del", f"{tag}r"], check=False)
        run(["ip", "netns", "del", node.ns], check=False)
