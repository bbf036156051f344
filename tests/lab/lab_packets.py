"""Hand-built frames for the decap tests: what the balancer would send a backend."""

from __future__ import annotations

import ipaddress
import struct

from l4lb_bench.frames import checksum

ETH_P_IP = 0x0800
IPPROTO_IPIP = 4
IPPROTO_UDP = 17


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def ipv4(
    src: str, dst: str, proto: int, payload: bytes, ident: int = 1, frag: int = 0x4000
) -> bytes:
    """`frag`: flags and offset; DF by default, as the balancer's outer header."""
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        ident,
        frag,
        64,
        proto,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    # Checksum 0: "none" for UDP over IPv4, so the test needs no pseudo-header.
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ipip_udp_frame(
    *,
    src_mac: str,
    dst_mac: str,
    outer_src: str,
    outer_dst: str,
    inner_src: str,
    inner_dst: str,
    sport: int,
    dport: int,
    payload: bytes,
) -> bytes:
    inner = ipv4(inner_src, inner_dst, IPPROTO_UDP, udp(sport, dport, payload))
    return ethernet(src_mac, dst_mac, ipv4(outer_src, outer_dst, IPPROTO_IPIP, inner))


def ethernet(src_mac: str, dst_mac: str, payload: bytes) -> bytes:
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ETH_P_IP) + payload
