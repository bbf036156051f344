"""IPv6 test frames for the data-plane benchmark, and the check of an ip6ip6
output (the IPv4 ones: frames.py).  Pure logic: bytes in, bytes out."""

from __future__ import annotations

import ipaddress
import struct

from l4lb_bench.frames import (
    CLIENT_MAC,
    LB_MAC,
    PROTO_TCP,
    PROTO_UDP,
    TCP_SYN,
    checksum,
    l4_segment,
    with_l4_checksum,
)

ETH_P_IPV6 = 0x86DD
IP6_LEN = 40
NEXTHDR_IPV6 = 41
_ETH_LEN = 14
# Offsets of the checksums the wrapper fixes when it varies the source
# (bpf/bench_wrap.c, BENCH_VARY_SADDR6).
L4_CSUM_OFFSET6 = {PROTO_TCP: _ETH_LEN + IP6_LEN + 16, PROTO_UDP: _ETH_LEN + IP6_LEN + 6}
_SADDR = slice(8, 24)  # of the IPv6 header


def _ip6(addr: str) -> bytes:
    return ipaddress.IPv6Address(addr).packed


def ipv6(
    src: str,
    dst: str,
    proto: int,
    sport: int,
    dport: int,
    *,
    size: int = 0,
    tcp_flags: int = TCP_SYN,
) -> bytes:
    """A TCP or UDP frame over IPv6 of `size` bytes (at least the headers
    and 4 bytes of payload), checksums correct."""
    l4_len = 20 if proto == PROTO_TCP else 8
    payload = bytes(max(4, size - _ETH_LEN - IP6_LEN - l4_len))
    l4 = l4_segment(proto, sport, dport, payload, tcp_flags)
    l4 = with_l4_checksum(l4, proto, _ip6(src) + _ip6(dst) + struct.pack("!IxxxB", len(l4), proto))
    ip = struct.pack("!IHBB16s16s", 6 << 28, len(l4), proto, 64, _ip6(src), _ip6(dst))
    return LB_MAC + CLIENT_MAC + struct.pack("!H", ETH_P_IPV6) + ip + l4


def is_ipv6(frame: bytes) -> bool:
    return len(frame) >= _ETH_LEN + IP6_LEN and struct.unpack_from("!H", frame, 12)[0] == ETH_P_IPV6


def next_header(frame: bytes) -> int:
    """The next header of the IPv6 frame's fixed header."""
    return frame[_ETH_LEN + 6]


def l4_checksum_ok(frame: bytes, offset: int = _ETH_LEN) -> bool:
    """TCP/UDP checksum of the IPv6 packet at `offset` (no extension headers;
    UDP's is mandatory over IPv6)."""
    hdr = frame[offset : offset + IP6_LEN]
    if len(hdr) < IP6_LEN or hdr[6] not in (PROTO_TCP, PROTO_UDP):
        return False
    plen = struct.unpack_from("!H", hdr, 4)[0]
    l4 = frame[offset + IP6_LEN : offset + IP6_LEN + plen]
    if len(l4) != plen:
        return False
    pseudo = hdr[8:40] + struct.pack("!IxxxB", plen, hdr[6])
    return checksum(pseudo + l4) == 0


def encap_problems(
    frame: bytes, out: bytes, saddr6: str, members: dict[str, bytes], varied: bool = False
) -> list[str]:
    """What is wrong with `out` as `frame` in ip6ip6 from `saddr6` to one of
    `members` (address -> MAC).  `varied`: the wrapper may have changed the
    inner source (and so the checksum), which must then still be right."""
    if len(out) < _ETH_LEN + IP6_LEN or struct.unpack_from("!H", out, 12)[0] != ETH_P_IPV6:
        return ["output is not IPv6"]
    hdr = out[_ETH_LEN : _ETH_LEN + IP6_LEN]
    problems = []
    if hdr[0] >> 4 != 6 or hdr[6] != NEXTHDR_IPV6:
        problems.append("output is not ip6ip6")
    dst = str(ipaddress.IPv6Address(hdr[24:40]))
    if dst not in members:
        problems.append(f"outer destination {dst} is not a backend")
    elif out[:6] != members[dst]:
        problems.append("Ethernet destination is not the backend's MAC")
    if str(ipaddress.IPv6Address(hdr[8:24])) != saddr6:
        problems.append("bad outer source")
    if struct.unpack_from("!H", hdr, 4)[0] != len(frame) - _ETH_LEN:
        problems.append("outer payload length is not the inner packet's")
    inner = out[_ETH_LEN + IP6_LEN :]
    if varied:
        if not l4_checksum_ok(out, _ETH_LEN + IP6_LEN):
            problems.append("inner TCP/UDP checksum wrong")
        same = _without_varied(inner) == _without_varied(frame[_ETH_LEN:])
    else:
        same = inner == frame[_ETH_LEN:]
    if not same:
        problems.append("inner packet changed")
    return problems


def _without_varied(packet: bytes) -> bytes:
    """An IPv6 packet without the fields the wrapper varies: the source and
    the TCP/UDP checksum."""
    off = L4_CSUM_OFFSET6.get(packet[6], 0) - _ETH_LEN if len(packet) > 6 else 0
    masked = bytearray(packet)
    masked[_SADDR] = bytes(16)
    if 0 < off <= len(masked) - 2:
        masked[off : off + 2] = b"\0\0"
    return bytes(masked)
