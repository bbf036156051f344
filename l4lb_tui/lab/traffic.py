"""Client side of `lab traffic`: real requests to the VIP, counted by who answered.

Runs inside the client namespace:

    ip netns exec <p>-cl python -m l4lb_tui.lab.traffic --target 10.0.0.4 --count 50

Each request uses a fresh socket, so the kernel picks a new source port every
time and a balancer hashing on ports spreads them.  Bounded twice: at most
`count` requests of each kind, and no new request after `duration` seconds.
Prints one JSON report on stdout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from l4lb_tui.lab.names import HTTP_PORT, UDP_PORT, VIP

TRAFFIC_MODULE = "l4lb_tui.lab.traffic"
DEFAULT_COUNT = 30
DEFAULT_DURATION = 10.0
DEFAULT_TIMEOUT = 0.5


@dataclass(slots=True)
class ProtoReport:
    sent: int = 0
    answered: int = 0
    by_backend: dict[str, int] = field(default_factory=dict)

    def record(self, backend: str | None) -> None:
        self.sent += 1
        if backend is not None:
            self.answered += 1
            self.by_backend[backend] = self.by_backend.get(backend, 0) + 1


@dataclass(slots=True)
class TrafficReport:
    target: str
    udp: ProtoReport = field(default_factory=ProtoReport)
    http: ProtoReport = field(default_factory=ProtoReport)
    elapsed: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrafficReport:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            target=str(raw["target"]),
            udp=ProtoReport(**raw["udp"]),
            http=ProtoReport(**raw["http"]),
            elapsed=float(raw["elapsed"]),
        )

    def backends(self) -> set[str]:
        return set(self.udp.by_backend) | set(self.http.by_backend)

    def lines(self) -> list[str]:
        out = []
        for label, rep in (("udp", self.udp), ("http", self.http)):
            spread = ", ".join(f"{b}={n}" for b, n in sorted(rep.by_backend.items())) or "-"
            out.append(f"{label:<5} {rep.answered}/{rep.sent} answered  by backend: {spread}")
        out.append(f"to {self.target} in {self.elapsed:.2f} s")
        return out


def udp_request(target: str, port: int, timeout: float) -> str | None:
    """One datagram to the target; the name of the backend that echoed it."""
    token = os.urandom(8).hex().encode()
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            # Connected, so an ICMP port unreachable (no balancer: the VIP's
            # own host has no server) ends the wait at once.
            sock.connect((target, port))
            sock.send(token)
            deadline = time.monotonic() + timeout
            while True:
                name, _, echoed = sock.recv(2048).partition(b" ")
                # Only this request's echo counts, not a stray datagram.
                if echoed == token:
                    return name.decode(errors="replace")
                sock.settimeout(max(0.001, deadline - time.monotonic()))
        except OSError:
            return None


def http_request(target: str, port: int, timeout: float) -> str | None:
    """One GET on a new TCP connection; the backend named in the reply."""
    conn = http.client.HTTPConnection(target, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read()
        return body.decode(errors="replace").strip() if resp.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def run(
    target: str,
    udp_port: int = UDP_PORT,
    http_port: int = HTTP_PORT,
    count: int = DEFAULT_COUNT,
    duration: float = DEFAULT_DURATION,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.0,
) -> TrafficReport:
    """`interval` paces the rounds, for watching a console while traffic flows."""
    report = TrafficReport(target=target)
    start = time.monotonic()
    for i in range(count):
        if i and interval:
            time.sleep(interval)
        if time.monotonic() - start >= duration:
            break
        report.udp.record(udp_request(target, udp_port, timeout))
        report.http.record(http_request(target, http_port, timeout))
    report.elapsed = time.monotonic() - start
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {TRAFFIC_MODULE}")
    parser.add_argument("--target", default=VIP)
    parser.add_argument("--udp-port", type=int, default=UDP_PORT)
    parser.add_argument("--http-port", type=int, default=HTTP_PORT)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="requests of each kind")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION, help="seconds, at most")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="per request")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between rounds")
    args = parser.parse_args(argv)
    report = run(args.target, args.udp_port, args.http_port, args.count, args.duration,
                 args.timeout, args.interval)  # fmt: skip
    print(report.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
