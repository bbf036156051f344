"""A client that reuses its source ports, over real sockets in the lab.

The case from the issue: 4 backends, the HTTP service loaded with 3 of them;
60 connections from fixed source ports 42000-42059 (SO_REUSEADDR, GET /, read
the answer, close with SO_LINGER 0); then all 4 backends loaded, the same 60
again; then one drained, the same 60 again.  Every connection must be
answered: before the fix 14 and 30 of 60 were reset.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest
from lab_support import require_root, unique_prefix

from l4lb_tui.abi import PROTO_TCP, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import read_destinations
from l4lb_tui.lab import Lab

pytestmark = pytest.mark.kernel
PORTS = range(42000, 42060)


@pytest.fixture(scope="module")
def lab4() -> Iterator[tuple[Lab, Balancer, ServiceKey]]:
    require_root()
    lab = Lab(prefix=unique_prefix(), backends=4)
    try:
        lab.up()
        bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
        bal.attach("driver", lab.outer_saddr)
        yield lab, bal, ServiceKey(lab.vip, lab.http_port, PROTO_TCP)
    finally:
        lab.down()


def one_request(lab: Lab, port: int) -> str:
    """GET / from a fixed source port; the answering backend's name, or
    what went wrong."""
    sock = lab.socket(lab.client.ns)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.settimeout(3)
        sock.bind((lab.client.addr, port))
        sock.connect((lab.vip, lab.http_port))
        sock.sendall(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        if not head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
            return f"error: {head[:40]!r}"
        return body.decode().strip()
    except OSError as exc:
        return f"error: {exc!r}"
    finally:
        sock.close()  # SO_LINGER 0: a reset, and the port is free at once


def round_of(lab: Lab) -> dict[int, str]:
    return {port: one_request(lab, port) for port in PORTS}


def test_sixty_reused_five_tuples_after_add_and_drain(
    lab4: tuple[Lab, Balancer, ServiceKey],
) -> None:
    lab, bal, svc = lab4
    real = list(read_destinations(lab.csv_path))
    names = {n.name for n in lab.backend_nodes}
    bal.load([svc], real[:3])
    first = round_of(lab)
    assert set(first.values()) <= names, first

    bal.load([svc], real)
    time.sleep(1)
    second = round_of(lab)
    failed = {p: r for p, r in second.items() if r not in names}
    assert not failed, f"after adding a backend, {len(failed)}/60 failed: {failed}"
    moved = sum(first[p] != second[p] for p in PORTS)

    bal.set_drain(svc, real[0].ip, True)
    third = round_of(lab)
    failed = {p: r for p, r in third.items() if r not in names}
    assert not failed, f"after a drain, {len(failed)}/60 failed: {failed}"
    drained = {n.name for n in lab.backend_nodes if n.addr == real[0].ip}
    assert not drained & set(third.values()), "a drained backend took new connections"
    moved += sum(second[p] != third[p] for p in PORTS)
    print(f"\nREUSE 60 ports x 3 rounds: all answered; {moved} connections changed backend")
    assert moved, "the changes moved no 5-tuple: the case proves nothing"
