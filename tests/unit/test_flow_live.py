"""Which flow-table entries count as occupied: the data plane's lifetime
rule (bpf/l4lb_flow.h flow_expired: `now - seen >= ttl[state]` on 32-bit
jiffies), its truth table with the clock wrapped, and the whole-buffer count
the occupancy scan uses agreeing with it entry by entry (pure logic)."""

from __future__ import annotations

import random
import struct

import pytest

from l4lb_tui import abi, abi6, flowlive
from l4lb_tui.abi import FlowState

TTL = (900, 60, 120, 10, 300, 0, 0, 0)  # in jiffies here: any unit does
W = 1 << 32


@pytest.mark.parametrize(
    ("now", "seen", "ttl", "gone"),
    [
        (100, 100, 10, False),  # just stamped
        (109, 100, 10, False),  # one jiffy short of its lifetime
        (110, 100, 10, True),  # exactly its lifetime: the data plane's >=
        (5000, 100, 10, True),
        (5, W - 3, 10, False),  # the clock wrapped since: 8 jiffies old
        (7, W - 3, 10, True),  # wrapped, 10 old
        (W - 1, 0, 10, True),  # stamped 2^32 - 1 ago: long gone
        (0, 0, 0, True),  # a lifetime of 0: gone at once, as in the kernel
        (3, 4, 10, True),  # stamped "after" now: 2^32 - 1 old, as the kernel reads it
    ],
)
def test_the_lifetime_rule_wraps_as_the_kernel_does(
    now: int, seen: int, ttl: int, gone: bool
) -> None:
    assert flowlive.expired(now, seen, ttl) is gone


def test_the_state_picks_the_lifetime_by_its_low_bits() -> None:
    assert flowlive.lifetime(TTL, FlowState.TCP_RST) == 10
    assert flowlive.lifetime(TTL, FlowState.UDP) == 300
    assert flowlive.lifetime(TTL, 8 | FlowState.UDP) == 300  # masked as the C masks it
    assert flowlive.lifetime((), FlowState.UDP) == 0  # a config without lifetimes


def entry4(seen: int, state: int) -> bytes:
    return abi.FLOW.pack(
        b"\x0a\0\0\2", b"\x0a\0\0\4", b"\0\1", b"\0\2", 17, state, 0, 3, b"\0" * 4, seen, 1
    )


def entry6(seen: int, state: int, proto: int = 6) -> bytes:
    return abi6.FLOW6.pack(
        b"\1" * 16, b"\2" * 16, b"\0\1", b"\0\2", proto, state, 0, 3, b"\0" * 4, seen, 1, 0, 0
    )


def test_the_layout_offsets_are_the_structs() -> None:
    raw = entry4(0xAABBCCDD, FlowState.TCP_FIN)
    assert struct.unpack_from("<I", raw, flowlive.SEEN4)[0] == 0xAABBCCDD
    assert raw[flowlive.STATE4] == FlowState.TCP_FIN
    raw6 = entry6(0x11223344, FlowState.UDP, 17)
    assert struct.unpack_from("<I", raw6, flowlive.SEEN6)[0] == 0x11223344
    assert raw6[flowlive.STATE6] == FlowState.UDP


def test_the_buffer_count_is_the_rule_entry_by_entry() -> None:
    rnd = random.Random(17)
    cases = []
    for now in (0, 5, 1 << 31, W - 1, 123_456_789):
        for _ in range(400):
            state = rnd.choice([*FlowState, 5, 9, 0x84])
            life = flowlive.lifetime(TTL, state)
            # Ages around the lifetime, and anywhere at all.
            age = rnd.choice([0, life - 1, life, life + 1, rnd.randrange(W)]) % W
            cases.append((now, (now - age) % W, state, rnd.random() < 0.8))
    for now in {c[0] for c in cases}:
        mine = [c for c in cases if c[0] == now]
        raw = b"".join(entry4(seen, state) for _, seen, state, _ in mine)
        stored = bytes(int(s) for *_, s in mine)
        want = sum(
            1
            for _, seen, state, s in mine
            if s and not flowlive.expired(now, seen, flowlive.lifetime(TTL, state))
        )
        assert flowlive.live_count(raw, abi.FLOW.size, stored, TTL, now) == want


def test_an_ipv6_entry_is_read_at_its_own_offsets() -> None:
    raw = b"".join([entry6(1, FlowState.UDP, 17), entry6(1, FlowState.TCP_RST, 6), entry6(1, 0, 0)])
    live = flowlive.live_count(
        raw, abi6.FLOW6.size, b"\1\1\0", TTL, 200, flowlive.SEEN6, flowlive.STATE6
    )
    assert live == 1, "the UDP entry lives 300, the reset one 10"
    gone = flowlive.live_count(
        raw, abi6.FLOW6.size, b"\1\1\0", TTL, 301, flowlive.SEEN6, flowlive.STATE6
    )
    assert gone == 0


def test_stored_slots_are_read_in_runs_and_sampled() -> None:
    mask = bytes([0, 1, 1, 0, 0, 0, 1] + [0] * 40 + [1, 1])
    assert flowlive.first_stored(mask, 10) == [1, 2, 6, 47, 48]
    assert flowlive.first_stored(mask, 2) == [1, 2]
    assert flowlive.runs([1, 2, 6, 47, 48], gap=16) == [(1, 6), (47, 2)]
    assert flowlive.runs([1, 2, 6, 47, 48], gap=1) == [(1, 2), (6, 1), (47, 2)]
    assert flowlive.scaled_live(100, 100, 37) == 37
    assert flowlive.scaled_live(1000, 100, 37) == 370
    assert flowlive.scaled_live(0, 0, 0) == 0
