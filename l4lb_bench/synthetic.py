"""Synthetic destinations for the benchmarks that load many backends."""

from __future__ import annotations

import ipaddress

from l4lb_tui.destinations import Destination


def synthetic(count: int) -> list[Destination]:
    """`count` distinct backends (172.16.0.1 upwards, locally administered MACs)."""
    base = int(ipaddress.IPv4Address("172.16.0.1"))
    out = []
    for i in range(count):
        ip = str(ipaddress.IPv4Address(base + i))
        mac = "02:00:" + ":".join(f"{b:02x}" for b in (base + i).to_bytes(4, "big"))
        out.append(Destination(ip, mac))
    return out
