"""Byte layouts of the data plane's map keys and values: the C ABI.

Mirrors bpf/l4lb_structs.h and bpf/l4lb_consts.h field by field;
tests/unit/test_abi.py compares every struct, offset and constant here with
the BTF of the built objects.  Integers are host order (x86 and arm64 are
little-endian); addresses and ports are network order, as in the packet.
"""

from __future__ import annotations

import enum
import ipaddress
import socket
import struct
from dataclasses import dataclass

from l4lb_tui.abi6 import FLOW_TAIL, addr6_fold, fold_bytes, is_ip6

LAYOUT_VERSION = 10  # L4LB_LAYOUT_VERSION: the maps' layouts, as config.version
MAX_SERVICES = 512  # service ids 1..MAX_SERVICES
MAX_BACKENDS = 4096
SVC_BUCKET = 4
SVC_BUCKETS_LOG2 = 13
SVC_BUCKETS = 1 << SVC_BUCKETS_LOG2
SVC_SLOTS = SVC_BUCKET * SVC_BUCKETS
SVC_USED = 0x80
SVC_VIP = 0x40
CHUNK_SLOTS = 64
RING_CHUNKS_LOG2 = 8
RING_CHUNKS = 1 << RING_CHUNKS_LOG2
RING_MAX_SLOTS = CHUNK_SLOTS * RING_CHUNKS
CFG_CATCH_ALL = 1
CFG_FLOW_LOG2_SHIFT = 8  # config.flags bits 8..12: log2 of the flow table's slots
CFG_FLOW_LOG2_MASK = 0x1F
SVC_FILL_MAGLEV = 1
FLOW_SLOTS = 1 << 19  # the flow maps' size in the object (the operator's at attach)
FLOW_TAGS_PER_ENTRY = 64
FLOW_PICKS_PER_ENTRY = 16
VIP_FILTER_ENTRIES = 16
VIP_FILTER_WORDS = 64
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_NAMES = {PROTO_TCP: "tcp", PROTO_UDP: "udp", 0: "any"}


class Reason(enum.IntEnum):
    """Index of each reason counter, as `enum reason` in l4lb_consts.h."""

    PASS_NOT_IPV4 = 0
    PASS_NOT_VIP = 1
    PASS_FRAGMENT = 2
    PASS_IP_OPTIONS = 3
    PASS_NOT_TCP_UDP = 4
    PASS_NO_SERVICE = 5
    DROP_TRUNCATED = 6
    DROP_MALFORMED = 7
    DROP_NO_BACKEND = 8
    DROP_ADJUST_HEAD = 9
    ICMP_FRAG_NEEDED = 10
    DROP_TOO_BIG = 11
    PASS_VLAN = 12
    PASS_IPV6_EXT = 13  # an IPv6 extension header before TCP/UDP, to a VIP
    ICMP6_TOO_BIG = 14  # ICMPv6 Packet Too Big sent back
    ICMP_TO_BACKEND = 15  # a router's frag needed / Packet Too Big sent on to the flow's backend

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def is_drop(self) -> bool:
        return self.name.startswith("DROP_")

    @property
    def is_pass(self) -> bool:
        return self.name.startswith("PASS_")


class FlowStat(enum.IntEnum):
    """Index of each flow-table counter, as `enum flow_stat`."""

    HIT = 0  # established: backend from the table
    NEW = 1  # a flow's first packet: the ring; only its tag (v6: entry pending) is written
    STALE = 2  # entry expired or its backend left: the ring, rewritten
    STORED = 3  # a flow's second packet: the ring, entry written
    UNTRACKED = 4  # the slot stores another live flow: the ring alone
    REUSED = 5  # a SYN met its 5-tuple's old entry: the ring, slot taken over


class FlowState(enum.IntEnum):
    """`enum flow_state`: what an entry has seen, which sets its lifetime."""

    TCP_EST = 0
    TCP_SYN = 1
    TCP_FIN = 2
    TCP_RST = 3
    UDP = 4


FLOW_STATE_SLOTS = 8
# Idle lifetimes in seconds by state: IPVS's defaults (established, SYN_RECV,
# FIN_WAIT, CLOSE; UDP).
FLOW_TTL = {
    FlowState.TCP_EST: 900,
    FlowState.TCP_SYN: 60,
    FlowState.TCP_FIN: 120,
    FlowState.TCP_RST: 10,
    FlowState.UDP: 300,
}


# The C structs, field by field in declaration order, with the struct format
# of each field; no implicit padding (the C side declares its own).
STRUCTS: dict[str, tuple[tuple[str, str], ...]] = {
    "config": (
        ("saddr", "4s"),
        ("ifmac", "6s"),
        ("flags", "H"),
        ("mtu", "I"),
        ("version", "I"),
        ("ttl", f"{FLOW_STATE_SLOTS}I"),
    ),
    "svc_slot": (("vip", "4s"), ("port", "2s"), ("proto", "B"), ("flags", "B"), ("id", "I")),
    "svc_live": (("ring_chunk", "I"), ("ring_size", "I"), ("gen", "I"), ("pad", "I")),
    "backend": (
        ("ip", "4s"),
        ("mac", "6s"),
        ("weight", "2H"),
        ("svc_id", "H"),
        ("member", "B"),
        ("drained", "B"),
        ("down", "B"),
        ("pad", "B"),
    ),
    "flow": (("saddr", "4s"), ("daddr", "4s"), *FLOW_TAIL),
    "counters": (("pkts", "Q"), ("bytes", "Q")),
    "ring_chunk": (("backend", f"{CHUNK_SLOTS}I"),),
    "vip_filter": (("w", f"{VIP_FILTER_WORDS}Q"),),
}


def c_struct(name: str) -> struct.Struct:
    return struct.Struct("<" + "".join(fmt for _, fmt in STRUCTS[name]))


_CONFIG = c_struct("config")
_SVC_KEY = struct.Struct("<4s2sBB")  # svc_slot's first word: the key and its flags
_SVC_SLOT = c_struct("svc_slot")
_SVC_LIVE = c_struct("svc_live")
_BACKEND = c_struct("backend")
FLOW = c_struct("flow")
_COUNTERS = c_struct("counters")
_U32 = struct.Struct("<I")


# Value sizes of the maps the control plane reads, to detect pins made by a
# build with other layouts.
VALUE_SIZES = {
    "config": _CONFIG.size,
    "svc_index": _SVC_SLOT.size,
    "svc_live": _SVC_LIVE.size,
    "backends": _BACKEND.size,
    "backend_stats": _COUNTERS.size,
}


# These run for every backend of every reload and poll: socket and bytes.hex
# do in C what ipaddress and f-strings do in Python (4096 backends: ~30 ms).


def ip_bytes(ip: str) -> bytes:
    try:
        return socket.inet_pton(socket.AF_INET, ip)  # dotted quad only, as before
    except OSError:
        return ipaddress.IPv4Address(ip).packed  # raises with its own message


def ip_text(raw: bytes) -> str:
    return socket.inet_ntoa(raw[:4])


def mac_bytes(mac: str) -> bytes:
    if len(mac) == 17:
        try:  # not contextlib.suppress: it costs more than the conversion
            return bytes.fromhex(mac.replace("-", "").replace(":", ""))
        except ValueError:
            pass
    return bytes(int(part, 16) for part in mac.replace("-", ":").split(":"))


def mac_text(raw: bytes) -> str:
    return raw[:6].hex(":")


def u32(value: int) -> bytes:
    return _U32.pack(value)


def unpack_u32(raw: bytes) -> int:
    return int(_U32.unpack(raw[:4])[0])


@dataclass(frozen=True, slots=True)
class Config:
    saddr: str
    ifmac: str
    flags: int = 0
    mtu: int = 0
    version: int = LAYOUT_VERSION
    ttl: tuple[int, ...] = ()  # jiffies, by FlowState; () reads as zeros

    def pack(self) -> bytes:
        ttl = (*self.ttl, *[0] * FLOW_STATE_SLOTS)[:FLOW_STATE_SLOTS]
        return _CONFIG.pack(
            ip_bytes(self.saddr), mac_bytes(self.ifmac), self.flags, self.mtu, self.version, *ttl
        )

    @classmethod
    def unpack(cls, raw: bytes) -> Config:
        saddr, mac, flags, mtu, version, *ttl = _CONFIG.unpack(raw[: _CONFIG.size])
        return cls(ip_text(saddr), mac_text(mac), flags, mtu, version, tuple(ttl))

    @property
    def catch_all(self) -> bool:
        return bool(self.flags & CFG_CATCH_ALL)

    @property
    def flow_log2(self) -> int:
        """log2 of the flow table's slots; 0: not recorded (older pins)."""
        return (self.flags >> CFG_FLOW_LOG2_SHIFT) & CFG_FLOW_LOG2_MASK


@dataclass(frozen=True, slots=True, order=True)
class ServiceKey:
    """A service: VIP, port (0 = any) and protocol (0 = any, catch-all only)."""

    vip: str
    port: int
    proto: int

    def pack(self, flags: int = 0) -> bytes:
        return _SVC_KEY.pack(ip_bytes(self.vip), self.port.to_bytes(2, "big"), self.proto, flags)

    @classmethod
    def unpack(cls, raw: bytes) -> ServiceKey:
        vip, port, proto, _ = _SVC_KEY.unpack(raw[: _SVC_KEY.size])
        return cls(ip_text(vip), int.from_bytes(port, "big"), proto)

    @property
    def is_catch_all(self) -> bool:
        return self.vip == "0.0.0.0" and self.proto == 0

    def __str__(self) -> str:
        if self.is_catch_all:
            return "* (all TCP/UDP)"
        port, vip = "*" if self.port == 0 else str(self.port), self.vip
        vip = f"[{vip}]" if is_ip6(vip) else vip
        return f"{vip}:{port}/{PROTO_NAMES.get(self.proto, str(self.proto))}"


CATCH_ALL = ServiceKey("0.0.0.0", 0, 0)


@dataclass(frozen=True, slots=True)
class ServiceValue:
    """A service as the data plane holds it: its `svc_index` slot's id and
    flags, and its `svc_live` entry (live ring and generation)."""

    svc_id: int
    ring_chunk: int
    ring_size: int
    gen: int
    flags: int = SVC_FILL_MAGLEV

    def pack_slot(self, key: ServiceKey) -> bytes:
        return key.pack(SVC_USED | (self.flags & ~SVC_USED & 0xFF)) + u32(self.svc_id)

    def pack_live(self) -> bytes:
        return _SVC_LIVE.pack(self.ring_chunk, self.ring_size, self.gen, 0)

    @classmethod
    def unpack(cls, slot: bytes, live: bytes) -> tuple[ServiceKey, ServiceValue]:
        chunk, size, gen, _ = _SVC_LIVE.unpack(live[: _SVC_LIVE.size])
        flags, svc_id = slot[7], unpack_u32(slot[8:12])
        return ServiceKey.unpack(slot), cls(svc_id, chunk, size, gen, flags & ~SVC_USED)

    @property
    def maglev(self) -> bool:
        return bool(self.flags & SVC_FILL_MAGLEV)

    @property
    def live_half(self) -> int:
        """Which ring, and which half of each backend entry, is live."""
        return (self.ring_chunk >> RING_CHUNKS_LOG2) & 1


GEN_MAX = 0xFFFFFFFF  # svc_live.gen is 32 bits


def next_generation(gen: int) -> int:
    """The generation after `gen`: reloads count 1..GEN_MAX, then wrap to 1,
    since 0 means no service.  Only the data plane's "is there a service"
    test reads it; membership rides on the live half, not on generations."""
    return gen % GEN_MAX + 1


def ring_base(svc_id: int, half: int) -> int:
    """First chunk of one of the service's two rings (ids start at 1)."""
    return ((svc_id - 1) * 2 + half) * RING_CHUNKS


def svc_bucket(key: ServiceKey) -> int:
    """The data plane's `svc_index` bucket of a key (svc_bucket in
    l4lb_xdp.c): its words as the program loads them (network-order bytes
    read as host integers)."""
    vip = int.from_bytes(ip_bytes(key.vip), "little")
    port = int.from_bytes(key.port.to_bytes(2, "big"), "little")
    h = ((vip * 0x9E3779B1) ^ (((port << 16) | key.proto) * 0x85EBCA6B)) & 0xFFFFFFFF
    return h >> (32 - SVC_BUCKETS_LOG2)


@dataclass(frozen=True, slots=True)
class BackendEntry:
    """A `backends` slot: the server, its service, and one view (membership,
    weight, the operator's drain, the health checker's) for each of the
    service's two ring halves."""

    ip: str
    mac: str
    svc_id: int
    member: int = 0  # bit h: a member while half h is live
    weights: tuple[int, int] = (0, 0)
    drained: int = 0  # bit h: drained by an operator in half h
    down: int = 0  # bit h: down (the health checker's verdict) in half h

    def pack(self) -> bytes:
        return _BACKEND.pack(
            fold_bytes(self.ip) if is_ip6(self.ip) else ip_bytes(self.ip),
            mac_bytes(self.mac),
            *self.weights,
            self.svc_id,
            self.member,
            self.drained,
            self.down,
            0,
        )

    @classmethod
    def unpack(cls, raw: bytes) -> BackendEntry:
        ip, mac, w0, w1, svc_id, member, drained, down, _ = _BACKEND.unpack(raw[: _BACKEND.size])
        return cls(ip_text(ip), mac_text(mac), svc_id, member & 3, (w0, w1), drained & 3, down & 3)

    def is_member(self, svc_id: int, half: int) -> bool:
        return self.svc_id == svc_id and bool(self.member >> half & 1) and self.ip != "0.0.0.0"

    def view(self, half: int) -> tuple[int, bool, bool]:
        """Weight, the operator's drain and the health checker's in one half."""
        return self.weights[half], bool(self.drained >> half & 1), bool(self.down >> half & 1)

    def with_view(
        self, half: int, member: bool, weight: int = 0, drained: bool = False, down: bool = False
    ) -> BackendEntry:
        """This entry with one half rewritten and the other as it was."""
        bit = 1 << half
        weights = (weight, self.weights[1]) if half == 0 else (self.weights[0], weight)
        return BackendEntry(
            self.ip,
            self.mac,
            self.svc_id,
            (self.member & ~bit) | (bit if member else 0),
            weights,
            (self.drained & ~bit) | (bit if drained else 0),
            (self.down & ~bit) | (bit if down else 0),
        )


def vip_filter_bit(vip: str) -> int:
    """The data plane's bit for a VIP: Fibonacci hashing of the address as
    the program loads it (network-order bytes read as a host integer; a v6
    address by its fold)."""
    raw = addr6_fold(vip) if is_ip6(vip) else int.from_bytes(ip_bytes(vip), "little")
    return ((raw * 0x9E3779B1) & 0xFFFFFFFF) >> 16


def pack_vip_filter(vips: set[str]) -> list[bytes]:
    """The filter's entries: entry bit >> 12, word (bit >> 6) % 64, bit % 64."""
    words = [[0] * VIP_FILTER_WORDS for _ in range(VIP_FILTER_ENTRIES)]
    for vip in vips:
        bit = vip_filter_bit(vip)
        words[bit >> 12][(bit >> 6) % VIP_FILTER_WORDS] |= 1 << (bit & 63)
    return [struct.pack(f"<{VIP_FILTER_WORDS}Q", *entry) for entry in words]


def pack_chunk(backend_indices: list[int]) -> bytes:
    """One ring chunk; short chunks (the ring's tail) are padded with zeros."""
    padded = backend_indices + [0] * (CHUNK_SLOTS - len(backend_indices))
    return struct.pack(f"<{CHUNK_SLOTS}I", *padded)
