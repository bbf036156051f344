"""Filling a service's slot ring: which backend each slot sends to.

Pure logic.  The data plane maps a flow hash onto [0, ring_size) and reads the
backend index in that slot, so the ring alone decides the spread and how many
flows move when the backend set changes.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
from collections.abc import Iterator, Sequence
from typing import cast

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

    Backends at serving weight 0 (not serving) get no slot; other weights are ignored, as
    the seed had none.  An empty list gives an empty ring, which the data
    plane treats as "no backend".
    """
    members = [idx for idx, w in zip(backend_indices, weights, strict=True) if w > 0]
    if not members:
        return []
    return [members[i % len(members)] for i in range(size)]


# Keyed blake2b states, copied per name: keying costs a compression of its
# own, and a reload hashes every backend name twice.
_OFFSET_SALT = hashlib.blake2b(digest_size=8, key=b"l4lb-offset")
_SKIP_SALT = hashlib.blake2b(digest_size=8, key=b"l4lb-skip")
# A console or a long-lived process refills the same names on every edit.
_HASHES: dict[str, tuple[int, int]] = {}
_HASHES_MAX = 1 << 16


def _hashes(name: str) -> tuple[int, int]:
    """The name's blake2b digests (8 bytes, big-endian) keyed "l4lb-offset" and
    "l4lb-skip", memoised.  blake2b, not hash(): the table must be the same on
    every machine and run."""
    found = _HASHES.get(name)
    if found is None:
        raw = name.encode()
        off, skip = _OFFSET_SALT.copy(), _SKIP_SALT.copy()
        off.update(raw)
        skip.update(raw)
        found = (int.from_bytes(off.digest(), "big"), int.from_bytes(skip.digest(), "big"))
        if len(_HASHES) >= _HASHES_MAX:
            _HASHES.clear()
        _HASHES[name] = found
    return found


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
    known = _HASHES.get
    hashes = [known(name) or _hashes(name) for _, name, _ in members]
    # Backend i's next candidate is offset + k * skip (mod size) for its k-th
    # probe; `pos` carries that sum forward by addition instead of
    # recomputing it, the same sequence at a fraction of the cost.
    pos = [off % size for off, _ in hashes]
    skips = [skip % (size - 1) + 1 for _, skip in hashes]
    idxs = [idx for idx, _, _ in members]
    # None, not -1, for a free slot: `is not None` is the cheapest test in
    # the loop that runs once per probe.
    table: list[int | None] = [None] * size
    # Exactly `size` turns fill the table: each takes one free slot.
    for i in itertools.islice(_turns([w for _, _, w in members]), size):
        slot = pos[i]
        skip = skips[i]
        while table[slot] is not None:
            slot += skip
            if slot >= size:
                slot -= size
        table[slot] = idxs[i]
        slot += skip
        pos[i] = slot - size if slot >= size else slot
    return cast("list[int]", table)


def _turns(weights: list[int]) -> Iterator[int]:
    """Whose turn it is, round after round: in each round, in order, every
    backend whose integer credits (add its weight, spend the top weight)
    reach the top weight."""
    top = max(weights)
    if min(weights) == top:
        return itertools.cycle(range(len(weights)))
    distinct = sorted(set(weights))
    if len(weights) < 4 * len(distinct) + 16:
        return _credit_turns(weights, top)
    return _pattern_turns(weights, top, distinct)


def _credit_turns(weights: list[int], top: int) -> Iterator[int]:
    credit = [0] * len(weights)
    members = range(len(weights))
    while True:
        for i in members:
            c = credit[i] + weights[i]
            if c < top:
                credit[i] = c
            else:
                credit[i] = c - top
                yield i


def _pattern_turns(weights: list[int], top: int, distinct: list[int]) -> Iterator[int]:
    # The credits in closed form: weight w turns in round k when
    # floor(k*w/top) steps up.  Who turns then depends only on which weights
    # step up, and those few patterns are listed once instead of testing
    # every backend every round (a large pool with one weight changed).
    patterns: dict[tuple[int, ...], list[int]] = {}
    k = 0
    while True:
        k += 1
        firing = tuple(w for w in distinct if k * w // top != (k - 1) * w // top)
        turns = patterns.get(firing)
        if turns is None:
            fires = set(firing)
            turns = patterns[firing] = [i for i, w in enumerate(weights) if w in fires]
        yield from turns


def fill(
    mode: FillMode,
    backend_indices: Sequence[int],
    names: Sequence[str],
    weights: Sequence[int],
    size: int,
) -> list[int]:
    """The ring of `size` slots, the same whatever order the backends come in.

    Both fills depend on the order of their members (Maglev's turns, round
    robin's rotation), and nodes behind one ECMP router must agree slot for
    slot: a config's lines, or a backends array's history, must not decide
    the ring.  So the members are sorted by name (the backend's IP) first.
    """
    order = sorted(range(len(names)), key=names.__getitem__)
    backend_indices = [backend_indices[i] for i in order]
    names = [names[i] for i in order]
    weights = [weights[i] for i in order]
    if mode is FillMode.MAGLEV:
        return maglev(backend_indices, names, weights, size)
    return round_robin(backend_indices, weights, size)
