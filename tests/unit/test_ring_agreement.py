"""Every node fills the same ring from the same backends, whatever their
order in its config and whatever slots its backends array gave them."""

from __future__ import annotations

import dataclasses
import random
import struct

import pytest

from l4lb_tui import abi, model, ring_print
from l4lb_tui.ring_fill import FillMode, fill

IPS = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(40)]
WEIGHTS = [1 + (i * 7) % 5 for i in range(40)]


def _ring_of_ips(mode: FillMode, order: list[int], size: int) -> list[str]:
    # Each node numbers its backends as its own array has them: by position here.
    ips = [IPS[i] for i in order]
    ring = fill(mode, list(range(len(ips))), ips, [WEIGHTS[i] for i in order], size)
    return [ips[idx] for idx in ring]


@pytest.mark.parametrize("mode", list(FillMode))
def test_shuffled_backends_give_the_same_ring(mode: FillMode) -> None:
    rng = random.Random(16)
    base = _ring_of_ips(mode, list(range(len(IPS))), 4093)
    for _ in range(5):
        order = list(range(len(IPS)))
        rng.shuffle(order)
        assert _ring_of_ips(mode, order, 4093) == base


def test_same_indices_give_the_same_ring_bytes() -> None:
    pairs = list(zip(range(100, 110), IPS[:10], strict=True))
    first = fill(FillMode.MAGLEV, [p[0] for p in pairs], [p[1] for p in pairs], [1] * 10, 251)
    pairs.reverse()
    second = fill(FillMode.MAGLEV, [p[0] for p in pairs], [p[1] for p in pairs], [1] * 10, 251)
    assert first == second


def test_fingerprint_is_of_ips_in_slot_order() -> None:
    assert ring_print.fingerprint(["10.0.0.1", "10.0.0.2"]) == ring_print.fingerprint(
        ring_print.ring_ips([7, 9], {7: "10.0.0.1", 9: "10.0.0.2"})
    )
    assert ring_print.fingerprint(["10.0.0.1", "10.0.0.2"]) != ring_print.fingerprint(
        ["10.0.0.2", "10.0.0.1"]
    )
    assert ring_print.fingerprint(["10.0.0.1", "10.0.0.2"]) != ring_print.fingerprint(
        ["10.0.0.1", "10.0.0.20"]
    )
    chunk = struct.pack("<64I", *range(64))
    assert ring_print.decode_ring([chunk, chunk], 70) == [*range(64), *range(6)]


def test_a_state_with_prints_stays_hashable() -> None:
    key = abi.ServiceKey("10.0.0.4", 80, 6)
    config = abi.Config("10.0.0.1", "02:00:00:00:00:01")
    state = model.State("eth0", config, None, 0, (), ((key, "ab"),))
    assert hash(state) == hash(dataclasses.replace(state))
    assert state.fingerprints == {key: "ab"}
