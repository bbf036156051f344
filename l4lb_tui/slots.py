"""Filling a service's slot ring: which backend each slot sends to.

Pure logic.  The data plane maps a flow hash onto [0, ring_size) and reads the
backend index in that slot, so the ring alone decides the spread.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

DEFAULT_RING_SIZE = 16381


class FillMode(enum.StrEnum):
    ROUND_ROBIN = "roundrobin"


def round_robin(backend_indices: Sequence[int], weights: Sequence[int], size: int) -> list[int]:
    """The seed's fill: slot i goes to the i-th backend in turn.

    Weight-0 (draining) backends get no slot.  An empty list gives an empty
    ring, which the data plane treats as "no backend".
    """
    members = [idx for idx, w in zip(backend_indices, weights, strict=True) if w > 0]
    if not members:
        return []
    return [members[i % len(members)] for i in range(size)]


def fill(
    mode: FillMode, backend_indices: Sequence[int], weights: Sequence[int], size: int
) -> list[int]:
    if mode is FillMode.ROUND_ROBIN:
        return round_robin(backend_indices, weights, size)
    raise ValueError(f"unknown fill mode {mode}")
