"""Test frames for the data-plane benchmark, and checks of what came out.

Pure logic: bytes in, bytes out.  Frames are Ethernet II with IPv4 (correct
header and L4 checksums) or ARP, padded to the 60-byte Ethernet minimum.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_IPIP = 4
TCP_SYN = 0x02
TCP_ACK = 0x10
MIN_FRAME = 60
ETH_LEN = 14
IP_LEN = 20
# The wrapper (bpf/bench_wrap.c) restores this many bytes of every frame.
RESTORE_BYTES = 64

# Offsets of the checksums the wrapper fixes when it varies the source.
L4_CSUM_OFFSET = {PROTO_TCP: ETH_LEN + IP_LEN + 16, PROTO_UDP: ETH_LEN + IP_LEN + 6}

CLIENT_MAC = bytes.fromhex("020000000002")
LB_MAC = bytes.fromhex("020000000004")


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of data."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip(addr: str) -> bytes:
    return ipaddress.IPv4Address(addr).packed


def l4_segment(proto: int, sport: int, dport: int, payload: bytes, tcp_flags: int) -> bytes:
    """A TCP or UDP header and its payload, the checksum still 0."""
    if proto == PROTO_TCP:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, tcp_flags, 64240, 0, 0)
    elif proto == PROTO_UDP:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    else:
        raise ValueError(f"protocol {proto}: only TCP and UDP")
    return l4 + payload


def with_l4_checksum(l4: bytes, proto: int, pseudo: bytes) -> bytes:
    """`l4` with its checksum over `pseudo` (the family's pseudo-header);
    a UDP sum of 0 is sent as 0xffff."""
    csum = checksum(pseudo + l4)
    if proto == PROTO_UDP and csum == 0:
        csum = 0xFFFF
    at = 16 if proto == PROTO_TCP else 6
    return l4[:at] + struct.pack("!H", csum) + l4[at + 2 :]


def ipv4(
    src: str,
    dst: str,
    proto: int,
    sport: int,
    dport: int,
    *,
    size: int = MIN_FRAME,
    tcp_flags: int = TCP_SYN,
    dst_mac: bytes = LB_MAC,
) -> bytes:
    """A TCP or UDP frame of `size` bytes (at least 60), checksums correct, DF set."""
    l4_len = 20 if proto == PROTO_TCP else 8
    payload = bytes(max(0, size - ETH_LEN - IP_LEN - l4_len))
    l4 = l4_segment(proto, sport, dport, payload, tcp_flags)
    l4 = with_l4_checksum(l4, proto, _ip(src) + _ip(dst) + struct.pack("!BBH", 0, proto, len(l4)))
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, IP_LEN + len(l4), 0, 0x4000, 64, proto, 0, _ip(src), _ip(dst)
    )
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    frame = dst_mac + CLIENT_MAC + struct.pack("!H", ETH_P_IP) + ip + l4
    return frame.ljust(MIN_FRAME, b"\0")


def arp_request(src: str, target: str) -> bytes:
    """Who-has `target`, broadcast, padded to 60 bytes."""
    body = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 1) + CLIENT_MAC + _ip(src) + bytes(6)
    body += _ip(target)
    frame = b"\xff" * 6 + CLIENT_MAC + struct.pack("!H", ETH_P_ARP) + body
    return frame.ljust(MIN_FRAME, b"\0")


@dataclass(frozen=True, slots=True)
class Ipv4View:
    """The fields of an IPv4 frame the checks need."""

    proto: int
    src: str
    dst: str
    total_len: int
    header_ok: bool
    payload: bytes  # everything after the IP header, to the frame's end


def parse_ipv4(frame: bytes, offset: int = ETH_LEN) -> Ipv4View | None:
    if len(frame) < offset + IP_LEN:
        return None
    if offset == ETH_LEN and struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP:
        return None
    hdr = frame[offset : offset + IP_LEN]
    if hdr[0] != 0x45:
        return None
    total = struct.unpack_from("!H", hdr, 2)[0]
    return Ipv4View(
        proto=hdr[9],
        src=str(ipaddress.IPv4Address(hdr[12:16])),
        dst=str(ipaddress.IPv4Address(hdr[16:20])),
        total_len=total,
        header_ok=checksum(hdr) == 0,
        payload=frame[offset + IP_LEN :],
    )


def l4_checksum_ok(frame: bytes, offset: int = ETH_LEN) -> bool:
    """TCP/UDP checksum of the IPv4 packet at `offset` (UDP 0: none, fine)."""
    view = parse_ipv4(frame, offset)
    if view is None or view.proto not in (PROTO_TCP, PROTO_UDP):
        return False
    l4 = view.payload[: view.total_len - IP_LEN]
    if view.proto == PROTO_UDP and struct.unpack_from("!H", l4, 6)[0] == 0:
        return True
    pseudo = _ip(view.src) + _ip(view.dst) + struct.pack("!BBH", 0, view.proto, len(l4))
    return checksum(pseudo + l4) == 0


def changed_span(before: bytes, after: bytes) -> tuple[int, int] | None:
    """Where a program rewrote the frame, in offsets of the original frame.

    A length change is taken as bytes added or removed at the head (what
    encapsulation and decapsulation do) or at the tail, whichever explains
    the output with fewer changed bytes.  None: nothing changed.
    """
    delta = len(after) - len(before)
    best: list[int] | None = None
    for head in (True, False):
        if head:
            a = after[delta:] if delta >= 0 else bytes(-delta) + after
        else:
            a = after[: len(before)].ljust(len(before), b"\0")
        diff = [i for i in range(len(before)) if i >= len(a) or a[i] != before[i]]
        if best is None or len(diff) < len(best):
            best = diff
    if not best:
        return None
    return best[0], best[-1]
