"""Filling a service's slot ring: which backend each slot sends to.

Pure logic.  The data plane maps a flow hash onto [0, ring_size) and reads the
backend index in that slot, so the ring alone decides the spread and how many
flows move when the backend set changes.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence

# A prime (Maglev needs one for its permutations) that fits the data plane's
# 16384-slot rings.  Maglev's imbalance shrinks as slots per backend grow:
# with 100+ slots per backend (up to ~160 backends) shares stay within a few
# percent; larger pools still work, with coarser balance.  A bigger ring would
# cost 4 bytes x 2 buffers x 512 services per slot of kernel memory.
DEFAULT_RING_SIZE = 16381


class FillMode(enum.StrEnum):
    MAGLEV = "maglev"
    ROUND_ROBIN = "roundrobin"


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    f = 3
    while f * f <= n:
        if n % f == 0:
            return False
        f += 2
    return True


def round_robin(backend_indices: Sequence[int], weights: Sequence[int], size: int) -> list[int]:
    """The seed's fill: slot i goes to the i-th backend in turn.

    Weight-0 (draining) backends get no slot; other weights are ignored, as
    the seed had none.  An empty list gives an empty ring, which the data
    plane treats as "no backend".
    """
    members = [idx for idx, w in zip(backend_indices, weights, strict=True) if w > 0]
    if not members:
        return []
    return [members[i % len(members)] for i in range(size)]


def _hash(name: str, salt: bytes) -> int:
    # blake2b, not hash(): the table must be the same on every machine and run.
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8, key=salt).digest(), "big")


def maglev(
    backend_indices: Sequence[int], names: Sequence[str], weights: Sequence[int], size: int
) -> list[int]:
    """Maglev's table fill (Eisenbud et al., NSDI 2016), weighted.

    Each backend walks its own permutation of the slots, taking the next
    free one on its turn.  A backend takes a turn in proportion to its
    weight (integer credits, so the result is exact and portable).  The
    permutation depends only on the backend's name, so adding or removing
    one backend moves few slots of the others.
    """
    if not is_prime(size):
        raise ValueError(f"Maglev needs a prime table size, not {size}")
    members = [
        (idx, name, w)
        for idx, name, w in zip(backend_indices, names, weights, strict=True)
        if w > 0
    ]
    if not members:
        return []
    offsets = [_hash(name, b"l4lb-offset") % size for _, name, _ in members]
    skips = [_hash(name, b"l4lb-skip") % (size - 1) + 1 for _, name, _ in members]
    top = max(w for _, _, w in members)
    credit = [0] * len(members)
    nxt = [0] * len(members)
    table = [-1] * size
    filled = 0
    while True:
        for i, (idx, _, w) in enumerate(members):
            credit[i] += w
            if credit[i] < top:
                continue
            credit[i] -= top
            offset, skip = offsets[i], skips[i]
            slot = (offset + nxt[i] * skip) % size
            while table[slot] >= 0:
                nxt[i] += 1
                slot = (offset + nxt[i] * skip) % size
            table[slot] = idx
            nxt[i] += 1
            filled += 1
            if filled == size:
                return table


def fill(
    mode: FillMode,
    backend_indices: Sequence[int],
    names: Sequence[str],
    weights: Sequence[int],
    size: int,
) -> list[int]:
    if mode is FillMode.MAGLEV:
        return maglev(backend_indices, names, weights, size)
    return round_robin(backend_indices, weights, size)
