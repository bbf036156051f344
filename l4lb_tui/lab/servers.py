"""A backend's servers: UDP echo and HTTP, each answering with the backend's name.

Run inside a backend namespace:

    ip netns exec <p>-be2 python -m l4lb_tui.lab.servers --name be2 --addr 10.0.0.4

Both sockets are bound before anything else, so a failure (the VIP missing,
a port taken) is this process's exit status and stderr.  Then it forks: the
child serves, the parent prints `ready <child pid>` and exits 0.  Whoever
started it therefore knows the servers listen once the parent has exited,
without polling and without keeping a handle on a long-lived child.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from l4lb_tui.lab.names import HTTP_PORT, UDP_PORT, VIP

SERVER_MODULE = "l4lb_tui.lab.servers"
# UDP replies are `<name> <request>`: the name says who answered, the echo
# lets the client pair each reply with its request.
UDP_MAX = 2048


def udp_reply(name: str, request: bytes) -> bytes:
    return name.encode() + b" " + request


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the connection open between requests: tests hold one TCP
    # connection across balancer changes and expect the same backend on it.
    protocol_version = "HTTP/1.1"
    backend_name: ClassVar[str] = ""

    def do_GET(self) -> None:
        body = f"{self.backend_name}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Backend", self.backend_name)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # One line per request would fill the log under `lab traffic`.
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


def _serve_udp(sock: socket.socket, name: str) -> None:
    try:
        while True:
            data, peer = sock.recvfrom(UDP_MAX)
            try:
                sock.sendto(udp_reply(name, data), peer)
            except OSError:
                # A flood with random sources asks for replies to addresses
                # with no route; that datagram is lost, the server is not.
                continue
    finally:
        # Anything else ends the whole process: a server half alive (HTTP
        # up, UDP dead) would look healthy to `lab up` and never be restarted.
        os._exit(1)


def _detach(log_path: str | None) -> None:
    """Leave the caller's session and output behind, keeping this process's sockets."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if log_path else devnull
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {SERVER_MODULE}")
    parser.add_argument("--name", required=True, help="what the servers answer, e.g. be2")
    parser.add_argument("--addr", default=VIP, help="address to bind (the VIP)")
    parser.add_argument(
        "--own-addr", help="also serve here (the backend's own address, for health checks)"
    )
    parser.add_argument("--addr6", help="also serve here (the IPv6 VIP)")
    parser.add_argument("--own-addr6", help="also serve here (the backend's own IPv6 address)")
    parser.add_argument("--udp-port", type=int, default=UDP_PORT)
    parser.add_argument("--http-port", type=int, default=HTTP_PORT)
    parser.add_argument("--lab", default="", help="lab prefix, to recognise the process")
    parser.add_argument("--log", help="file for the servers' errors once detached")
    parser.add_argument(
        "--foreground", action="store_true", help="serve in this process, do not fork"
    )
    args = parser.parse_args(argv)

    _Handler.backend_name = args.name
    udps: list[socket.socket] = []
    https: list[_HTTPServer] = []
    extra = (args.own_addr, args.addr6, args.own_addr6)
    for addr in (args.addr, *(a for a in extra if a)):
        v6 = ":" in addr
        try:
            udp = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((addr, args.udp_port))
            udps.append(udp)
            https.append((_HTTPServer6 if v6 else _HTTPServer)((addr, args.http_port), _Handler))
        except OSError as exc:
            print(f"{args.name}: cannot listen on {addr}: {exc.strerror}", file=sys.stderr)
            return 1

    if not args.foreground:
        child = os.fork()
        if child:
            print(f"ready {child}", flush=True)
            os._exit(0)
        _detach(args.log)

    for udp in udps:
        threading.Thread(target=_serve_udp, args=(udp, args.name), daemon=True).start()
    for http in https[1:]:
        threading.Thread(target=http.serve_forever, daemon=True).start()
    https[0].serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
