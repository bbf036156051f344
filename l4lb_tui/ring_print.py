"""A service's ring fingerprint: what it sends where, comparable across nodes.

Pure logic.  Nodes behind one ECMP router must send a flow to the same
backend whichever node it lands on, so their live rings must agree slot for
slot.  Backend indices differ between nodes (each backends array has its own
history), so the print hashes the backend IPs in slot order, never indices.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping, Sequence

from l4lb_tui import abi

# 16 hex digits: short enough for a column, far beyond chance collisions for
# the handful of nodes an operator compares.
DIGEST_BYTES = 8
_CHUNK = struct.Struct(f"<{abi.CHUNK_SLOTS}I")


def fingerprint(ips: Iterable[str]) -> str:
    """The print of a ring given as the backend IP of each slot, in order."""
    h = hashlib.blake2b(digest_size=DIGEST_BYTES, person=b"l4lb-ring")
    for ip in ips:
        h.update(ip.encode())
        h.update(b"\n")
    return h.hexdigest()


def ring_ips(ring: Sequence[int], ip_of: Mapping[int, str]) -> list[str]:
    """The ring's slots as IPs; an index no backend holds reads as "?"."""
    return [ip_of.get(idx, "?") for idx in ring]


def decode_ring(chunks: Sequence[bytes], size: int) -> list[int]:
    """The first `size` backend indices of a ring's chunks (`rings` values)."""
    out: list[int] = []
    for chunk in chunks:
        out.extend(_CHUNK.unpack_from(chunk))
    return out[:size]
