"""The backends of `l4lb bench health`: one process answering on every address
of its namespace, so thousands of backends cost one listener.

TCP: accepts every connection; answers a request with a short HTTP 200 and
closes (a TCP check resets it first, which is fine).  UDP: echoes every
datagram.  Run inside the benchmark's namespace:

    python -m l4lb_bench.health.server PORT

It prints "ready" once both sockets listen.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import sys

RESPONSE = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
_BUFFER = 4096
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_PKTINFO_SPACE = socket.CMSG_SPACE(12)  # struct in_pktinfo


def serve(port: int) -> None:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("0.0.0.0", port))
    tcp.listen(4096)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
    udp.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
    udp.bind(("0.0.0.0", port))
    poller = select.epoll()
    poller.register(tcp.fileno(), select.EPOLLIN)
    poller.register(udp.fileno(), select.EPOLLIN)
    conns: dict[int, socket.socket] = {}
    print("ready", flush=True)
    while True:
        for fd, _ in poller.poll():
            if fd == tcp.fileno():
                _accept(tcp, poller, conns)
            elif fd == udp.fileno():
                _echo(udp)
            elif fd in conns:
                _answer(conns.pop(fd), poller)


def _accept(tcp: socket.socket, poller: select.epoll, conns: dict[int, socket.socket]) -> None:
    with contextlib.suppress(BlockingIOError):
        while True:
            conn, _ = tcp.accept()
            conn.setblocking(False)
            poller.register(conn.fileno(), select.EPOLLIN)
            conns[conn.fileno()] = conn


def _answer(conn: socket.socket, poller: select.epoll) -> None:
    with contextlib.suppress(OSError):  # reset by a TCP check: nothing to answer
        if conn.recv(_BUFFER):
            conn.send(RESPONSE)
    poller.unregister(conn.fileno())
    conn.close()


def _echo(udp: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError):
        while True:
            data, ancillary, _, peer = udp.recvmsg(_BUFFER, _PKTINFO_SPACE)
            with contextlib.suppress(OSError):
                udp.sendmsg([data], _reply_from(ancillary), 0, peer)


def _reply_from(ancillary: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """From the address the request went to: a socket on 0.0.0.0 would
    otherwise answer from the route's source, which the prober's connected
    socket does not take."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == _IP_PKTINFO:
            _, _, to = struct.unpack("I4s4s", data[:12])
            return [(socket.IPPROTO_IP, _IP_PKTINFO, struct.pack("I4s4s", 0, to, bytes(4)))]
    return []


if __name__ == "__main__":
    serve(int(sys.argv[1]))
