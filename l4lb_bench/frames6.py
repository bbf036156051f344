"""IPv6 test frames for the data-plane benchmark, and the check of an ip6ip6
output (the IPv4 ones: frames.py).  Pure logic: bytes in, bytes out."""

from __future__ import annotations

import ipaddress
import struct

from l4lb_bench.frames import CLIENT_MAC, LB_MAC, PROTO_TCP, TCP_SYN, l4_segment, with_l4_checksum

ETH_P_IPV6 = 0x86DD
IP6_LEN = 40
NEXTHDR_IPV6 = 41
_ETH_LEN = 14


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


def encap_problems(frame: bytes, out: bytes, saddr6: str, members: dict[str, bytes]) -> list[str]:
    """What is wrong with `out` as `frame` in ip6ip6 from `saddr6` to one of
    `members` (address -> MAC)."""
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
    if out[_ETH_LEN + IP6_LEN :] != frame[_ETH_LEN:]:
        problems.append("inner packet changed")
    return problems
