"""The lab's balancer loaded with its two services, and keep-alive HTTP
connections through it, for either family (shared by the IPv4 and IPv6
change tests)."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from l4lb_tui.abi import PROTO_TCP, PROTO_UDP, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination, read_destinations
from l4lb_tui.lab import Lab

Bed = tuple[Lab, Balancer, list[ServiceKey], list[Destination]]


@contextmanager
def loaded(lab: Lab, ipv6: bool = False) -> Iterator[Bed]:
    """The lab's balancer attached (both outer sources) and serving the
    HTTP and UDP services of one family's VIP from its destinations file."""
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    bal.attach("driver", lab.outer_saddr, saddr6=lab.outer_saddr6 if ipv6 else None)
    vip = lab.vip6 if ipv6 else lab.vip
    services = [ServiceKey(vip, lab.http_port, PROTO_TCP), ServiceKey(vip, lab.udp_port, PROTO_UDP)]
    real = list(read_destinations(lab.csv6_path if ipv6 else lab.csv_path))
    bal.load(services, real)
    try:
        yield lab, bal, services, real
    finally:
        bal.detach()


class KeepAlive:
    """One HTTP/1.1 connection from the client namespace; never reopened."""

    def __init__(self, lab: Lab, ipv6: bool = False) -> None:
        vip = lab.vip6 if ipv6 else lab.vip
        sock = lab.socket(lab.client.ns, socket.AF_INET6 if ipv6 else socket.AF_INET)
        sock.settimeout(3)
        sock.connect((vip, lab.http_port))
        self.local = sock.getsockname()
        self.conn = http.client.HTTPConnection(vip, lab.http_port, timeout=3)
        self.conn.sock = sock
        self.conn.auto_open = 0

    def get(self) -> str:
        self.conn.request("GET", "/")
        resp = self.conn.getresponse()
        assert resp.status == 200
        return resp.read().decode().strip()
