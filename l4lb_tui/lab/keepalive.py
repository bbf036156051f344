"""Keep-alive clients through the VIP, for changes made under traffic.

Runs inside the client namespace:

    ip netns exec <p>-cl python -m l4lb_tui.lab.keepalive --conns 8 --duration 6

Opens `conns` HTTP/1.1 connections and prints `ready` once all are open; then
each sends GET after GET on its own connection, and each of `udp` connected
UDP sockets sends datagram after datagram, until `duration` seconds have
passed.  A failure is counted under its cause and the connection opened
again, so one run counts every failure.  Prints one JSON report at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

from l4lb_tui.lab.names import HTTP_PORT, UDP_PORT, VIP

KEEPALIVE_MODULE = "l4lb_tui.lab.keepalive"
# Longer than a few TCP retransmissions (the first after 200 ms).
REQUEST_TIMEOUT = 5.0
UDP_TIMEOUT = 0.5
# A request slower than this waited for a retransmission.
SLOW_S = 0.15


@dataclass(slots=True)
class KeepAliveReport:
    conns: int = 0
    requests: int = 0
    resets: int = 0  # RST from the VIP's host: ECONNRESET, EPIPE
    closed: int = 0  # the connection ended without a reset
    timeouts: int = 0
    errors: list[str] = field(default_factory=list)
    reopened: int = 0
    slow: int = 0
    max_latency_ms: float = 0.0
    backends_changed: int = 0  # a connection answered by another backend
    udp_answered: int = 0
    udp_refused: int = 0  # ICMP port unreachable from the VIP's host
    udp_lost: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> KeepAliveReport:
        return cls(**json.loads(text))

    @property
    def failed(self) -> int:
        return self.resets + self.closed + self.timeouts + len(self.errors)


def _connect(target: str, port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection(target, port, timeout=REQUEST_TIMEOUT)
    conn.connect()
    return conn


def _get(conn: http.client.HTTPConnection) -> str:
    conn.request("GET", "/")
    resp = conn.getresponse()
    body = resp.read().decode(errors="replace").strip()
    if resp.status != 200:
        raise http.client.HTTPException(f"status {resp.status}")
    return body


class _Run:
    def __init__(self, target: str, port: int, deadline: float) -> None:
        self.target = target
        self.port = port
        self.deadline = deadline
        self.report = KeepAliveReport()
        self.lock = threading.Lock()

    def _failed(self, exc: BaseException) -> None:
        with self.lock:
            # RemoteDisconnected is a ConnectionResetError, but no reset: the
            # peer closed.
            if isinstance(exc, http.client.RemoteDisconnected | http.client.IncompleteRead):
                self.report.closed += 1
            elif isinstance(exc, ConnectionResetError | BrokenPipeError):
                self.report.resets += 1
            elif isinstance(exc, TimeoutError):
                self.report.timeouts += 1
            else:
                self.report.errors.append(f"{type(exc).__name__}: {exc}")

    def http_worker(self, conn: http.client.HTTPConnection) -> None:
        backend = ""
        while time.monotonic() < self.deadline:
            start = time.monotonic()
            try:
                who = _get(conn)
            except (OSError, http.client.HTTPException) as exc:
                self._failed(exc)
                conn.close()
                conn, backend = self._reopen(), ""
                continue
            took = time.monotonic() - start
            with self.lock:
                self.report.requests += 1
                self.report.slow += took > SLOW_S
                self.report.max_latency_ms = max(self.report.max_latency_ms, took * 1000)
                self.report.backends_changed += bool(backend) and who != backend
            backend = who
        conn.close()

    def _reopen(self) -> http.client.HTTPConnection:
        while True:
            try:
                conn = _connect(self.target, self.port)
            except OSError:
                time.sleep(0.05)
                continue
            with self.lock:
                self.report.reopened += 1
            return conn

    def udp_worker(self, port: int) -> None:
        family = socket.AF_INET6 if ":" in self.target else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            # Connected: an ICMP port unreachable comes back as ECONNREFUSED.
            sock.connect((self.target, port))
            sock.settimeout(UDP_TIMEOUT)
            while time.monotonic() < self.deadline:
                token = os.urandom(8).hex().encode()
                outcome = "udp_answered"
                try:
                    sock.send(token)
                    while not sock.recv(2048).endswith(b" " + token):
                        pass
                except ConnectionRefusedError:
                    outcome = "udp_refused"
                except TimeoutError:
                    outcome = "udp_lost"
                with self.lock:
                    setattr(self.report, outcome, getattr(self.report, outcome) + 1)


def run(target: str, conns: int, udp: int, duration: float, http_port: int, udp_port: int) -> str:
    opened = [_connect(target, http_port) for _ in range(conns)]
    print("ready", flush=True)
    state = _Run(target, http_port, time.monotonic() + duration)
    state.report.conns = conns
    workers = [threading.Thread(target=state.http_worker, args=(c,)) for c in opened]
    workers += [threading.Thread(target=state.udp_worker, args=(udp_port,)) for _ in range(udp)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return state.report.to_json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {KEEPALIVE_MODULE}")
    parser.add_argument("--target", default=VIP)
    parser.add_argument("--http-port", type=int, default=HTTP_PORT)
    parser.add_argument("--udp-port", type=int, default=UDP_PORT)
    parser.add_argument("--conns", type=int, default=8, help="keep-alive HTTP connections")
    parser.add_argument("--udp", type=int, default=0, help="UDP senders")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds")
    args = parser.parse_args(argv)
    try:
        print(run(args.target, args.conns, args.udp, args.duration, args.http_port, args.udp_port))
    except OSError as exc:
        where = f"{args.target}:{args.http_port}"
        print(f"keepalive: cannot connect to {where}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
