"""The reload planner on its own: which entries a reload writes, with which
generation, and in which order around the service's flip (no kernel)."""

from __future__ import annotations

import dataclasses
import random

from l4lb_tui import bpfsys, svcindex
from l4lb_tui import layout as L
from l4lb_tui.balancer import (
    _WRITTEN_MAPS,
    _decode_backends,
    _decode_fresh,
    _Planner,
    _Snapshot,
)
from l4lb_tui.destinations import Destination
from l4lb_tui.slots import DEFAULT_RING_SIZE, FillMode

KEY = L.ServiceKey("10.0.0.4", 80, L.PROTO_TCP)
SVC = L.ServiceValue(svc_id=3, ring_chunk=L.ring_base(3, 0), ring_size=DEFAULT_RING_SIZE, gen=7)
# Map ids, as the reload resolves them from the pins.
IDS = {name: 100 + i for i, name in enumerate(_WRITTEN_MAPS)}
ENTRY_SIZE = 20


def dests(n: int) -> list[Destination]:
    return [Destination(f"10.1.0.{i + 1}", f"02:00:00:00:01:{i + 1:02x}") for i in range(n)]


def array(entries: dict[int, bytes], count: int = L.MAX_BACKENDS, step: int = ENTRY_SIZE) -> bytes:
    raw = bytearray(count * step)
    for idx, value in entries.items():
        raw[idx * step : idx * step + len(value)] = value
    return bytes(raw)


def snapshot(members: list[Destination], svc: L.ServiceValue = SVC) -> _Snapshot:
    """Members in slots 10, 11, ...; slot 2 holds a backend removed long ago."""
    packed = {
        10 + i: L.BackendEntry(
            d.ip, d.mac, d.weight, svc.svc_id, svc.gen, L.BE_DRAINING if d.drained else 0
        ).pack()
        for i, d in enumerate(members)
    }
    packed[2] = L.BackendEntry("10.9.9.9", "02:00:00:00:09:09", 1, svc.svc_id, 1).pack()
    dump = bpfsys.ArrayDump(array(packed), L.MAX_BACKENDS, 1, ENTRY_SIZE, ENTRY_SIZE)
    entries, by_slot, groups = _decode_backends(dump)
    slot = svcindex.free_slot(KEY, set())
    return _Snapshot({KEY: svc}, {KEY: slot}, entries, by_slot, groups, dump.raw, ENTRY_SIZE)


def stats(counted: set[int]) -> bpfsys.ArrayDump:
    step = 16 * 2
    raw = array({i: (1).to_bytes(8, "little") for i in counted}, step=step)
    return bpfsys.ArrayDump(raw, L.MAX_BACKENDS, 2, 16, 16)


def plan(
    snap: _Snapshot, new: list[Destination], counted: frozenset[int] = frozenset()
) -> tuple[list[str], list[str]]:
    planner = _Planner(snap, lambda: stats(set(counted)), IDS)
    return planner.service(KEY, new, FillMode.MAGLEV, DEFAULT_RING_SIZE)


def lines_to(name: str, lines: list[str]) -> list[str]:
    ref = f"map update id {IDS[name]} "
    return [line for line in lines if line.startswith(ref)]


def flipped(flips: list[str]) -> L.ServiceValue:
    """The service as the flip (the first write after the rest) leaves it."""
    assert lines_to("svc_live", flips) == flips[:1]
    value = bytes.fromhex(flips[0].split(" value hex ")[1].replace(" ", ""))
    return L.ServiceValue.unpack(SVC.pack_slot(KEY), value)[1]


def test_weight_change_keeps_the_generation_and_writes_one_entry() -> None:
    cur = dests(100)
    new = [dataclasses.replace(d, weight=3) if i == 50 else d for i, d in enumerate(cur)]
    cmds, flips = plan(snapshot(cur), new)
    written = lines_to("backends", cmds + flips)
    assert len(written) == 1 and "key hex 3c 00 00 00 " in written[0]  # slot 60
    assert len(lines_to("rings", cmds)) == 256 and not lines_to("backend_stats", cmds)
    value = flipped(flips)
    assert value.gen == SVC.gen and value.live_half == 1 - SVC.live_half
    assert len(flips) == 1  # an existing service: its index slot stays


def test_a_drain_lands_after_the_flip_an_undrain_before() -> None:
    cur = dests(10)
    drained = [dataclasses.replace(d, drained=True) if i == 4 else d for i, d in enumerate(cur)]
    cmds, flips = plan(snapshot(cur), drained)
    assert not lines_to("backends", cmds)
    assert lines_to("backends", flips) == flips[1:] and len(flips) == 2
    cmds, flips = plan(snapshot(drained), cur)
    assert len(lines_to("backends", cmds)) == 1 and len(flips) == 1


def test_same_list_again_writes_only_ring_and_flip() -> None:
    cur = dests(10)
    cmds, flips = plan(snapshot(cur), list(cur))
    assert not lines_to("backends", cmds + flips)
    assert flipped(flips).gen == SVC.gen


def test_several_changes_bump_the_generation_and_rewrite_all() -> None:
    cur = dests(10)
    new = [dataclasses.replace(d, weight=2) if i < 2 else d for i, d in enumerate(cur)]
    cmds, flips = plan(snapshot(cur), new)
    assert len(lines_to("backends", cmds)) == 10 and len(flips) == 1
    assert flipped(flips).gen == SVC.gen + 1


def test_a_new_service_is_indexed_after_its_ring_is_live() -> None:
    empty = snapshot([])
    snap = dataclasses.replace(empty, services={}, slots={})
    planner = _Planner(snap, lambda: stats(set()), IDS)
    other = L.ServiceKey("10.0.0.5", 80, L.PROTO_TCP)
    _, flips = planner.service(other, dests(3), FillMode.MAGLEV, DEFAULT_RING_SIZE)
    assert [lines_to("svc_live", flips), lines_to("svc_index", flips)] == [flips[:1], flips[1:]]
    slot = int.from_bytes(
        bytes.fromhex(flips[1].split(" key hex ")[1][:11].replace(" ", "")), "little"
    )
    assert slot // L.SVC_BUCKET == L.svc_bucket(other)
    value = bytes.fromhex(flips[1].split(" value hex ")[1].replace(" ", ""))
    assert value[:7] == bytes([10, 0, 0, 5, 0, 80, 6]) and value[7] & L.SVC_USED
    assert int.from_bytes(value[8:12], "little") >= 1  # a torn slot's id 0 is no service


def test_membership_change_bumps_and_zeroes_only_counted_slots() -> None:
    cur = dests(10)
    new = [*cur, Destination("10.1.1.1", "02:00:00:00:02:01"), *dests(13)[10:]]
    # Free slots are handed out from 0: slot 0 counted packets for a backend
    # removed earlier, slots 1 and 2 never did.
    cmds, flips = plan(snapshot(cur), new, frozenset({0}))
    assert len(lines_to("backends", cmds)) == 14
    zeroed = lines_to("backend_stats", cmds)
    assert zeroed == [line for line in zeroed if "key hex 00 00 00 00 " in line] and zeroed
    assert flipped(flips).gen == SVC.gen + 1


def test_generation_wraps_without_zero() -> None:
    old = dataclasses.replace(SVC, gen=0xFFFF)
    cur = dests(3)
    _, flips = plan(snapshot(cur, old), cur[:2])
    assert flipped(flips).gen == 1


def test_decoding_skips_free_slots_and_is_shared() -> None:
    snap = snapshot(dests(5))
    assert sorted(snap.entries) == [2, 10, 11, 12, 13, 14]
    again = snapshot(dests(5))
    assert again.entries is snap.entries  # the same bytes: decoded once
    assert snap.dests[10] == Destination("10.1.0.1", "02:00:00:00:01:01")
    assert snap.member_slots(SVC) == [10, 11, 12, 13, 14]  # not slot 2: an old generation


def test_decoding_a_changed_array_matches_decoding_it_afresh() -> None:
    rng = random.Random(5)
    packed = {
        i: L.BackendEntry(f"10.2.{i // 250}.{i % 250 + 1}", "02:00:00:00:02:01", 1, 3, 7).pack()
        for i in rng.sample(range(L.MAX_BACKENDS), 600)
    }
    dump = bpfsys.ArrayDump(array(packed), L.MAX_BACKENDS, 1, ENTRY_SIZE, ENTRY_SIZE)
    _decode_backends(dump)
    for _ in range(20):
        for i in rng.sample(range(L.MAX_BACKENDS), rng.choice([1, 2, 50])):
            if i in packed and rng.random() < 0.3:
                del packed[i]  # a freed slot
            else:
                gen = rng.choice([7, 8])
                packed[i] = L.BackendEntry("10.3.0.1", "02:00:00:00:03:01", 2, 3, gen).pack()
        dump = bpfsys.ArrayDump(array(packed), L.MAX_BACKENDS, 1, ENTRY_SIZE, ENTRY_SIZE)
        delta = _decode_backends(dump)
        fresh = _decode_fresh(dump)
        assert delta[0] == fresh[0] and delta[1] == fresh[1] and delta[2] == fresh[2]
