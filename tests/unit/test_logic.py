"""Slot fill, rates, service specs and byte layouts: pure logic."""

from __future__ import annotations

import dataclasses
import struct
from collections import Counter

import pytest

from l4lb_tui import abi, bpfsys, svcindex
from l4lb_tui.rates import Rate, fmt_int, rate, share
from l4lb_tui.ring_fill import FillMode, fill, round_robin
from l4lb_tui.services import parse_service


def test_round_robin_is_the_seeds_fill() -> None:
    ring = round_robin([7, 8, 9], [1, 1, 1], 10)
    assert ring == [7, 8, 9, 7, 8, 9, 7, 8, 9, 7]
    assert fill(FillMode.ROUND_ROBIN, [1, 2], ["a", "b"], [1, 1], 4) == [1, 2, 1, 2]


def test_round_robin_skips_drained_and_empty() -> None:
    assert set(round_robin([1, 2, 3], [1, 0, 1], 100)) == {1, 3}
    assert round_robin([1], [0], 100) == []
    counts = Counter(round_robin(list(range(32)), [1] * 32, 16381))
    assert max(counts.values()) - min(counts.values()) <= 1


def test_rates() -> None:
    assert rate(None, (10, 100), 1.0) == Rate(0.0, 0.0)
    assert rate((10, 100), (20, 600), 2.0) == Rate(5.0, 2000.0)
    assert rate((20, 600), (5, 10), 1.0) == Rate(0.0, 0.0), "a reset counter is not negative"
    assert fmt_int(1234567.4) == "1,234,567"
    assert share(1, 4) == 0.25 and share(1, 0) == 0.0


def test_service_specs() -> None:
    assert parse_service("10.0.0.4:8080/tcp") == [abi.ServiceKey("10.0.0.4", 8080, 6)]
    assert parse_service("10.0.0.4/udp") == [abi.ServiceKey("10.0.0.4", 0, 17)]
    assert {k.proto for k in parse_service("10.0.0.4:53")} == {6, 17}
    for bad in ["10.0.0.4:99999", "nope", "10.0.0.4/icmp", "0.0.0.0:80", "127.0.0.1:80"]:
        with pytest.raises(ValueError, match="service"):
            parse_service(bad)


def test_layouts_match_the_c_structs() -> None:
    config = abi.Config("10.0.0.1", "02:00:00:00:00:01", ttl=(9, 8, 7, 6, 5))
    assert len(config.pack()) == 52
    assert abi.Config.unpack(config.pack()) == dataclasses.replace(
        config, ttl=(9, 8, 7, 6, 5, 0, 0, 0)
    )
    key = abi.ServiceKey("10.0.0.4", 8080, 6)
    assert key.pack() == bytes([10, 0, 0, 4, 0x1F, 0x90, 6, 0])
    assert abi.ServiceKey.unpack(key.pack()) == key
    val = abi.ServiceValue(3, 1536, 16381, 7)
    slot, live = val.pack_slot(key), val.pack_live()
    assert slot == bytes([10, 0, 0, 4, 0x1F, 0x90, 6, 0x81, 3, 0, 0, 0]) and len(live) == 16
    assert abi.ServiceValue.unpack(slot, live) == (key, val)
    be = abi.BackendEntry("10.0.0.11", "02:00:00:00:00:0b", 3, 2, (0, 5))
    assert abi.BackendEntry.unpack(be.pack()) == be and len(be.pack()) == 20
    assert be.pack()[10:20] == bytes([0, 0, 5, 0, 3, 0, 2, 0, 0, 0])
    assert be.is_member(3, 1) and abi.ServiceValue(3, abi.ring_base(3, 1), 1, 1).live_half == 1
    assert not be.is_member(3, 0) and not be.is_member(4, 1)
    assert be.view(1) == (5, False, False) and be.with_view(0, True, 2, True).drained == 1
    down = be.with_view(1, True, 5, down=True)
    assert down.down == 2 and down.pack()[18] == 2 and abi.BackendEntry.unpack(down.pack()) == down
    assert len(abi.pack_chunk([1, 2])) == abi.CHUNK_SLOTS * 4
    assert abi.ring_base(1, 1) == 1 * abi.RING_CHUNKS and abi.ring_base(2, 0) == 2 * abi.RING_CHUNKS
    assert (
        abi.ring_base(abi.MAX_SERVICES, 1) + abi.RING_CHUNKS
        == abi.MAX_SERVICES * 2 * abi.RING_CHUNKS
    )


def test_service_index_places_services_in_their_bucket() -> None:
    keys = [
        abi.ServiceKey(f"10.0.{i // 250}.{i % 250 + 1}", 80, 6) for i in range(abi.MAX_SERVICES)
    ]
    taken: set[int] = set()
    slots = {}
    for key in keys:
        slots[key] = svcindex.free_slot(key, taken)
        taken.add(slots[key])
        assert slots[key] // abi.SVC_BUCKET == abi.svc_bucket(key)
    table = [bytes(16)] * abi.SVC_SLOTS
    lives = [bytes(16)] * (abi.MAX_SERVICES + 1)
    for i, key in enumerate(keys, start=1):
        val = abi.ServiceValue(i, abi.ring_base(i, 0), 16381, 1)
        table[slots[key]], lives[i] = val.pack_slot(key) + bytes(4), val.pack_live()
    vip = svcindex.marker("10.9.9.9")
    marker_slot = svcindex.free_slot(vip, set(slots.values()))
    table[marker_slot] = svcindex.pack_marker("10.9.9.9") + bytes(4)
    decoded, markers = svcindex.decode(b"".join(table), 16, b"".join(lives), 16)
    assert decoded[keys[9]][1] == abi.ServiceValue(10, abi.ring_base(10, 0), 16381, 1)
    assert {k: s for k, (s, _) in decoded.items()} == slots
    assert markers == {"10.9.9.9": marker_slot}
    # A full bucket is refused with the key in the message, never overwritten.
    key = keys[0]
    first = abi.svc_bucket(key) * abi.SVC_BUCKET
    with pytest.raises(svcindex.ServiceIndexFull, match=r"10\.0\.0\.1:80/tcp"):
        svcindex.free_slot(key, set(range(first, first + abi.SVC_BUCKET)))
    assert str(abi.CATCH_ALL) == "* (all TCP/UDP)"


def test_per_cpu_pairs_are_summed_over_cpus() -> None:
    # Entry i, CPU c holds (i * 10 + c, i * 100 + c): sums over 3 CPUs.
    cpus, count = 3, 5
    words = [v for i in range(count) for c in range(cpus) for v in (i * 10 + c, i * 100 + c)]
    dump = bpfsys.ArrayDump(struct.pack(f"<{len(words)}Q", *words), count, cpus, 16, 16)
    assert dump.summed_u64_pairs() == [(i * 30 + 3, i * 300 + 3) for i in range(count)]
    one = bpfsys.ArrayDump(struct.pack("<4Q", 1, 2, 3, 4), 2, 1, 16, 16)
    assert one.summed_u64_pairs() == [(1, 2), (3, 4)]
