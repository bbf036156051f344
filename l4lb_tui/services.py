"""Parsing service specifications: `ADDR[:PORT][/tcp|udp]`."""

from __future__ import annotations

import ipaddress

from l4lb_tui.layout import PROTO_TCP, PROTO_UDP, ServiceKey

_PROTOS = {"tcp": (PROTO_TCP,), "udp": (PROTO_UDP,), "": (PROTO_TCP, PROTO_UDP)}


def parse_service(spec: str) -> list[ServiceKey]:
    """One spec gives one service per protocol; no protocol means TCP and UDP.

    Raises ValueError with an operator-readable message.
    """
    text = spec.strip()
    addr_port, _, proto = text.partition("/")
    proto = proto.lower()
    if proto not in _PROTOS:
        raise ValueError(f"service {spec!r}: protocol must be tcp or udp, not {proto!r}")
    addr, _, port_text = addr_port.partition(":")
    try:
        vip = ipaddress.IPv4Address(addr)
    except ValueError:
        raise ValueError(f"service {spec!r}: {addr!r} is not an IPv4 address") from None
    if vip.is_unspecified or vip.is_multicast or vip.is_loopback:
        raise ValueError(f"service {spec!r}: {vip} cannot be a VIP")
    port = 0
    if port_text:
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ValueError(f"service {spec!r}: port must be 0-65535 (0 = any)")
        port = int(port_text)
    return [ServiceKey(str(vip), port, p) for p in _PROTOS[proto]]
