"""Path-MTU discovery through the balancer, over real sockets (t20 HIGH-1).

A client behind a router (the lab's client, forwarding) whose hop toward it
has a 1280-byte MTU downloads 300 kB through the VIP.  The backend's replies
(DSR, from the VIP) are too big for that hop: the router's ICMP
"fragmentation needed" / ICMPv6 Packet Too Big goes to the VIP, the
balancer sends it on to the flow's backend, whose kernel lowers its path
MTU, and the download completes.  Without it, it hung with 0 bytes."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest
from lab_conns import loaded

from l4lb_tui.abi import PROTO_TCP, Reason, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.lab import Lab

pytestmark = pytest.mark.kernel

PORT = 8081  # not a lab service's port: the test's own servers answer here
BODY = b"x" * 300_000
HOP_MTU = 1280


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)  # noqa: S603


@pytest.fixture(scope="module")
def far(lab: Lab) -> Iterator[str]:
    """A namespace behind the lab's client, the client routing for it."""
    ns, cl = f"{lab.prefix}-far", lab.client.ns
    near, away = f"{lab.prefix}-fr1", f"{lab.prefix}-fr0"
    ip("netns", "add", ns)
    try:
        ip("link", "add", away, "netns", ns, "type", "veth", "peer", "name", near, "netns", cl)
        for where, dev, v4, v6 in (
            (ns, away, "10.77.0.2", "fd77::2"),
            (cl, near, "10.77.0.1", "fd77::1"),
        ):
            ip("-n", where, "addr", "add", f"{v4}/24", "dev", dev)
            ip("-n", where, "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            ip("-n", where, "link", "set", dev, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "route", "add", "default", "via", "10.77.0.1")
        ip("-n", ns, "-6", "route", "add", "default", "via", "fd77::1")
        for key in ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"):
            subprocess.run(["ip", "netns", "exec", cl, "sysctl", "-qw", key], check=True)  # noqa: S603
        for node in lab.backend_nodes:
            ip("-n", node.ns, "route", "replace", "10.77.0.0/24", "via", lab.client.addr)
            ip("-n", node.ns, "-6", "route", "replace", "fd77::/64", "via", lab.client.addr6)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)  # noqa: S603
        for node in lab.backend_nodes:
            subprocess.run(["ip", "-n", node.ns, "route", "del", "10.77.0.0/24"], check=False)  # noqa: S603
            subprocess.run(["ip", "-n", node.ns, "-6", "route", "del", "fd77::/64"], check=False)  # noqa: S603


def _serve(lab: Lab, family: int, vip: str) -> list[socket.socket]:
    """On every backend, a server at the VIP that sends BODY and closes."""
    listeners = []
    for node in lab.backend_nodes:
        srv = lab.socket(node.ns, family)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((vip, PORT))
        srv.listen()
        listeners.append(srv)
        threading.Thread(target=_send_body, args=(srv,), daemon=True).start()
    return listeners


def _send_body(srv: socket.socket) -> None:
    while True:
        try:
            conn, _ = srv.accept()
        except OSError:
            return  # closed by the test
        with conn:
            conn.sendall(BODY)


def _download(lab: Lab, ns: str, family: int, vip: str) -> int:
    with lab.socket(ns, family) as sock:
        sock.settimeout(10)
        sock.connect((vip, PORT))
        got = 0
        try:
            while chunk := sock.recv(65536):
                got += len(chunk)
        except TimeoutError:
            pass
        return got


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
def test_a_download_through_a_smaller_mtu_hop_completes(lab: Lab, far: str, ipv6: bool) -> None:
    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    vip = lab.vip6 if ipv6 else lab.vip
    near = f"{lab.prefix}-fr1"
    for node in lab.backend_nodes:  # no path MTU learnt by an earlier case
        ip("-n", node.ns, "-6" if ipv6 else "-4", "route", "flush", "cache")
    with loaded(lab, ipv6) as (_, bal, _, real):
        bal.load([ServiceKey(vip, PORT, PROTO_TCP)], real)
        listeners = _serve(lab, family, vip)
        try:
            assert _download(lab, far, family, vip) == len(BODY), "no download even without the hop"
            ip("-n", lab.client.ns, "link", "set", near, "mtu", str(HOP_MTU))
            before = _sent_on(bal)
            got = _download(lab, far, family, vip)
            assert got == len(BODY), f"{got} of {len(BODY)} bytes through a {HOP_MTU}-byte hop"
            assert _sent_on(bal) > before, "no router error went on to a backend"
        finally:
            for srv in listeners:
                srv.close()
            ip("-n", lab.client.ns, "link", "set", near, "mtu", "1500")


def _sent_on(bal: Balancer) -> int:
    return bal.counters().reasons[Reason.ICMP_TO_BACKEND][0]
