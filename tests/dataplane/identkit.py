"""What the identity tests share: the `l4lb` command run for real, and
namespaces of a test's own with a veth pair in each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from l4lb_tui import bpfsys
from l4lb_tui.balancer import Balancer
from l4lb_tui.netlink import Netlink
from tests.conftest import remove_pins_of, run

ROOT = Path(__file__).parents[2]


def l4lb(*args: str, ns: str | None = None) -> subprocess.CompletedProcess[str]:
    netns = ["--netns", ns] if ns else []
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *netns, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )


def ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, (res.stdout, res.stderr)
    return res.stdout


def refused(res: subprocess.CompletedProcess[str], *said: str) -> str:
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stderr.startswith("l4lb: error: ") and res.stderr.count("\n") == 1, res.stderr
    for text in said:
        assert text in res.stderr, res.stderr
    return res.stderr


class Namespaces:
    """Namespaces of one test, each with a veth pair whose balancer end has
    the same name in all of them (`dev`), both ends up."""

    def __init__(self, prefix: str = "idn") -> None:
        self.tag = f"{prefix}{uuid.uuid4().hex[:6]}"
        self.dev = f"{self.tag}v"
        self.made: list[str] = []

    def add(self, suffix: str, with_link: bool = True) -> str:
        ns = f"{self.tag}{suffix}"
        run(["ip", "netns", "add", ns])
        self.made.append(ns)
        if with_link:
            self.veth(ns, self.dev)
        return ns

    def veth(self, ns: str, dev: str, *index: str, peer: str = "") -> None:
        """A veth pair `dev` and `peer` (`dev`p) in `ns`, both up (`index`:
        "index", N)."""
        peer = peer or f"{dev}p"
        run(["ip", "-n", ns, "link", "add", dev, *index, "type", "veth", "peer", "name", peer])
        for link in (dev, peer):
            run(["ip", "-n", ns, "link", "set", link, "up"])

    def remove(self) -> None:
        for ns in self.made:
            run(["ip", "netns", "del", ns], check=False)
        for ns in self.made:
            remove_pins_of(ns)


def csv(tmp_path: Path, name: str, third_octet: int, count: int = 4) -> str:
    path = tmp_path / f"{name}.csv"
    path.write_text(
        "".join(
            f"10.{third_octet}.0.{i}, 02:00:00:{third_octet:02x}:00:{i:02x}\n"
            for i in range(1, count + 1)
        )
    )
    return str(path)


def stats(ns: str, dev: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ok(l4lb("stats", "-i", dev, "--once", "--json", ns=ns)))
    return doc


def attached_prog(ns: str, dev: str) -> int:
    return Netlink(ns).link(dev).xdp_prog_id


def ifindex(ns: str, dev: str) -> int:
    return Netlink(ns).link(dev).ifindex


def send(ns: str, dev: str, vip: str, sport: int = 40000) -> tuple[str, bytes]:
    """A UDP frame to vip:9000 through the program `dev` runs in `ns`:
    its verdict and output frame."""
    bal = Balancer(dev, netns=ns)
    assert bal.prog_id() == attached_prog(ns, dev), "the pinned program is not the attached one"
    frame = bytes(
        Ether(src="02:00:00:00:00:02", dst=Netlink(ns).link(dev).mac)
        / IP(src="10.0.0.2", dst=vip)
        / UDP(sport=sport, dport=9000)
        / Raw(b"ping")
    )
    fd = bpfsys.obj_get(bal.prog_pin)
    try:
        res = bpfsys.test_run(fd, frame)
    finally:
        os.close(fd)
    return res.verdict, res.data


def as_legacy(ns: str, dev: str) -> tuple[Path, Path]:
    """Move a balancer's pins where an older l4lb kept them (a directory
    named after the interface, no identity record): what an upgrade finds.
    That directory, and the one the pins were in."""
    pins = Balancer(dev, netns=ns).pin_dir
    legacy = pins.parent / dev
    for extra in ("identity", "link"):
        (pins / extra).unlink(missing_ok=True)
    os.rename(pins, legacy)
    return legacy, pins
