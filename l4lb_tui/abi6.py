"""The IPv6 part of the data plane's C ABI (bpf/l4lb_structs.h, l4lb_consts.h).

Kept apart from abi.py, which it does not import (abi.py imports it):
tests/unit/test_abi.py checks these structs and constants against the BTF
as it does abi.py's.  Addresses are network-order bytes, as in the packet.
"""

from __future__ import annotations

import ipaddress
import struct

SVC6_BUCKET = 4
SVC6_BUCKETS_LOG2 = 13
SVC6_SLOTS = SVC6_BUCKET << SVC6_BUCKETS_LOG2
FLOW6_SLOTS = 1 << 16  # the object's own size: what pins made before --flows6 hold
CFG_FLOW6_LOG2_SHIFT = 1  # config.flags bits 1..5: log2 of flows6's slots (--flows6)
CFG_FLOW6_LOG2_MASK = 0x1F
FLOW6_STAT_BASE = 6  # flow_stats: IPv6's outcomes after IPv4's, by the same FlowStat
IP6_HOP_LIMIT = 64

# A flow entry after its addresses, the same in IPv4's `flow` (abi.py) and
# IPv6's `flow6`: the data plane's one flow state machine reads both.
FLOW_TAIL: tuple[tuple[str, str], ...] = (
    ("sport", "2s"),
    ("dport", "2s"),
    ("proto", "B"),
    ("state", "B"),
    ("pad", "H"),
    ("backend", "I"),
    ("backend_ip", "4s"),
    ("seen", "I"),
    ("svc_id", "I"),
)

STRUCTS6: dict[str, tuple[tuple[str, str], ...]] = {
    "config6": (("saddr6", "16s"),),
    "svc6_slot": (
        ("vip", "16s"),
        ("port", "2s"),
        ("proto", "B"),
        ("flags", "B"),
        ("id", "I"),
        ("pad", "2I"),
    ),
    "backend6": (("ip6", "16s"),),
    "flow6": (("saddr", "16s"), ("daddr", "16s"), *FLOW_TAIL, ("pad2", "2I")),
}


def c_struct6(name: str) -> struct.Struct:
    return struct.Struct("<" + "".join(fmt for _, fmt in STRUCTS6[name]))


_SVC6_SLOT = c_struct6("svc6_slot")
FLOW6 = c_struct6("flow6")
SVC6_SLOT_SIZE = _SVC6_SLOT.size
_WORDS = struct.Struct("<4I")


def is_ip6(ip: str) -> bool:
    return ":" in ip


def ip6_bytes(ip: str) -> bytes:
    return ipaddress.IPv6Address(ip).packed


def ip6_text(raw: bytes) -> str:
    return str(ipaddress.IPv6Address(raw[:16]))


def addr6_fold(ip: str) -> int:
    """addr6_fold in l4lb_parse6.h: the xor of the address's four words as
    the program loads them (network-order bytes read as host integers)."""
    a, b, c, d = _WORDS.unpack(ip6_bytes(ip))
    return int(a ^ b ^ c ^ d)


def fold_bytes(ip: str) -> bytes:
    """What a v6 backend's `backends` slot holds in `ip`: the fold, never 0
    (an ip of 0 means an empty slot to the data plane)."""
    return fold_of(ip6_bytes(ip))


def fold_of(raw: bytes) -> bytes:
    """fold_bytes of a packed address."""
    a, b, c, d = _WORDS.unpack(raw[:16])
    return struct.pack("<I", (a ^ b ^ c ^ d) or 1)


def svc6_bucket(vip: str, port: int, proto: int) -> int:
    """svc6_bucket in l4lb_svc6.h: svc_bucket's hash over the VIP's fold
    (the port's network-order bytes read as a host integer, as loaded)."""
    wire_port = int.from_bytes(port.to_bytes(2, "big"), "little")
    h = (addr6_fold(vip) * 0x9E3779B1) ^ (((wire_port << 16) | proto) * 0x85EBCA6B)
    return (h & 0xFFFFFFFF) >> (32 - SVC6_BUCKETS_LOG2)


def pack_svc6_slot(vip: str, port: int, proto: int, flags: int, svc_id: int) -> bytes:
    """A v6 service's slot; port 0, proto 0, SVC_VIP and id 0 make the VIP's
    marker."""
    return _SVC6_SLOT.pack(ip6_bytes(vip), port.to_bytes(2, "big"), proto, flags, svc_id, 0, 0)


def unpack_svc6_slot(raw: bytes) -> tuple[str, int, int, int, int]:
    """(vip, port, proto, flags, id) of a slot."""
    vip, port, proto, flags, svc_id, _, _ = _SVC6_SLOT.unpack(raw[:SVC6_SLOT_SIZE])
    return ip6_text(vip), int.from_bytes(port, "big"), proto, flags, int(svc_id)
