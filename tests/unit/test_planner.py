"""The reload planner on its own: which entries a reload writes, in which
half, and in which order around the service's flip (no kernel)."""

from __future__ import annotations

import dataclasses
import random

from l4lb_tui import abi, bpfsys, decoded_backends, svcindex
from l4lb_tui.destinations import Destination
from l4lb_tui.reload_plan import WRITTEN_MAPS, Planner, Snapshot
from l4lb_tui.ring_fill import DEFAULT_RING_SIZE, FillMode

KEY = abi.ServiceKey("10.0.0.4", 80, abi.PROTO_TCP)
SVC = abi.ServiceValue(svc_id=3, ring_chunk=abi.ring_base(3, 0), ring_size=DEFAULT_RING_SIZE, gen=7)
# Map ids, as the reload resolves them from the pins.
IDS = {name: 100 + i for i, name in enumerate(WRITTEN_MAPS)}
ENTRY_SIZE = 20


def dests(n: int) -> list[Destination]:
    return [Destination(f"10.1.0.{i + 1}", f"02:00:00:00:01:{i + 1:02x}") for i in range(n)]


def array(
    entries: dict[int, bytes], count: int = abi.MAX_BACKENDS, step: int = ENTRY_SIZE
) -> bytes:
    raw = bytearray(count * step)
    for idx, value in entries.items():
        raw[idx * step : idx * step + len(value)] = value
    return bytes(raw)


def entry(d: Destination, svc_id: int, member: int = 3) -> abi.BackendEntry:
    """A member in both halves alike, as a finished reload leaves it."""
    return abi.BackendEntry(
        d.ip, d.mac, svc_id, member, (d.weight, d.weight), 3 if d.drained else 0
    )


def snapshot(
    members: list[Destination],
    svc: abi.ServiceValue = SVC,
    extra: dict[int, abi.BackendEntry] | None = None,
) -> Snapshot:
    """Members in slots 10, 11, ...; slot 2 holds a backend removed long ago."""
    packed = {10 + i: entry(d, svc.svc_id).pack() for i, d in enumerate(members)}
    packed[2] = entry(Destination("10.9.9.9", "02:00:00:00:09:09"), svc.svc_id, 0).pack()
    packed.update((i, e.pack()) for i, e in (extra or {}).items())
    dump = bpfsys.ArrayDump(array(packed), abi.MAX_BACKENDS, 1, ENTRY_SIZE, ENTRY_SIZE)
    slot = svcindex.free_slot(KEY, set())
    return Snapshot({KEY: svc}, {KEY: slot}, decoded_backends.decode(dump))


def stats(counted: set[int]) -> bpfsys.ArrayDump:
    step = 16 * 2
    raw = array({i: (1).to_bytes(8, "little") for i in counted}, step=step)
    return bpfsys.ArrayDump(raw, abi.MAX_BACKENDS, 2, 16, 16)


def plan(
    snap: Snapshot, new: list[Destination], counted: frozenset[int] = frozenset()
) -> tuple[list[str], list[str]]:
    planner = Planner(snap, lambda: stats(set(counted)), IDS)
    return planner.service(KEY, new, FillMode.MAGLEV, DEFAULT_RING_SIZE)


def lines_to(name: str, lines: list[str]) -> list[str]:
    ref = f"map update id {IDS[name]} "
    return [line for line in lines if line.startswith(ref)]


def value_of(line: str) -> bytes:
    return bytes.fromhex(line.split(" value hex ")[1].replace(" ", ""))


def key_of(line: str) -> int:
    return int.from_bytes(bytes.fromhex(line.split(" key hex ")[1][:11].replace(" ", "")), "little")


def flipped(flips: list[str]) -> abi.ServiceValue:
    """The service as the flip (the first write after the rest) leaves it."""
    assert lines_to("svc_live", flips) == flips[:1]
    return abi.ServiceValue.unpack(SVC.pack_slot(KEY), value_of(flips[0]))[1]


def written(lines: list[str]) -> dict[int, abi.BackendEntry]:
    return {key_of(x): abi.BackendEntry.unpack(value_of(x)) for x in lines_to("backends", lines)}


def test_weight_change_writes_one_entry_in_the_idle_half() -> None:
    cur = dests(100)
    new = [dataclasses.replace(d, weight=3) if i == 50 else d for i, d in enumerate(cur)]
    cmds, flips = plan(snapshot(cur), new)
    before, after = written(cmds), written(flips)
    assert list(before) == [60] and list(after) == [60]
    # Before the flip only the idle half (1) says weight 3; after it both do.
    assert before[60].weights == (1, 3) and before[60].member == 3
    assert after[60].weights == (3, 3)
    assert len(lines_to("rings", cmds)) == 256 and not lines_to("backend_stats", cmds)
    value = flipped(flips)
    assert value.gen == SVC.gen + 1 and value.live_half == 1 - SVC.live_half


def test_a_drain_is_written_in_the_idle_half_then_in_step() -> None:
    cur = dests(10)
    drained = [dataclasses.replace(d, drained=True) if i == 4 else d for i, d in enumerate(cur)]
    cmds, flips = plan(snapshot(cur), drained)
    assert written(cmds)[14].drained == 2 and written(flips)[14].drained == 3
    assert written(cmds)[14].member == 3  # a drained backend stays a member


def test_same_list_again_writes_only_ring_and_flip() -> None:
    cur = dests(10)
    cmds, flips = plan(snapshot(cur), list(cur))
    assert not lines_to("backends", cmds + flips)
    assert len(flips) == 1


def test_removed_members_leave_the_idle_half_first() -> None:
    cur = dests(10)
    cmds, flips = plan(snapshot(cur), cur[:8])
    before, after = written(cmds), written(flips)
    # Slots 18 and 19 stay members of the live half (0) until the flip; what
    # half 0 says of them after it, only the next reload reads (and clears).
    assert before[18].member == 1 and before[19].member == 1
    assert set(before) == {18, 19} and not after
    flipped_to_1 = dataclasses.replace(SVC, ring_chunk=abi.ring_base(SVC.svc_id, 1))
    left = {18 + i: e for i, e in enumerate(before.values())}
    cmds, _ = plan(snapshot(cur[:8], flipped_to_1, extra=left), cur[:8])
    assert {i: e.member for i, e in written(cmds).items()} == {18: 0, 19: 0}


def test_what_a_stopped_reload_left_in_the_idle_half_is_scrubbed() -> None:
    cur = dests(4)
    # A reload to half 1 that stopped before its flip: a new backend in slot
    # 30 and a survivor rewritten with another weight, both in half 1 only.
    torn_new = abi.BackendEntry("10.4.0.1", "02:00:00:00:04:01", SVC.svc_id, 2, (0, 1), 0)
    torn_survivor = dataclasses.replace(entry(cur[0], SVC.svc_id), weights=(1, 9))
    snap = snapshot(cur, extra={30: torn_new, 10: torn_survivor})
    assert snap.members(KEY) == cur  # readers see the live half whole
    cmds, _ = plan(snap, cur)
    before = written(cmds)
    assert before[30].member == 0 and before[10].weights == (1, 1)
    assert {b.ip for b in snap.table.members(SVC)} == {d.ip for d in cur}


def test_a_new_service_is_indexed_after_its_ring_is_live() -> None:
    empty = snapshot([])
    snap = dataclasses.replace(empty, services={}, slots={})
    planner = Planner(snap, lambda: stats(set()), IDS)
    other = abi.ServiceKey("10.0.0.5", 80, abi.PROTO_TCP)
    cmds, flips = planner.service(other, dests(3), FillMode.MAGLEV, DEFAULT_RING_SIZE)
    index = lines_to("svc_index", flips)
    assert lines_to("svc_live", flips) == flips[:1] and index == flips[1:] == flips[1:2]
    # Nothing reads a new service's members before its flip: both halves at once.
    assert [e.member for e in written(cmds).values()] == [3, 3, 3]
    slot = key_of(index[0])
    assert slot // abi.SVC_BUCKET == abi.svc_bucket(other)
    value = value_of(index[0])
    assert value[:7] == bytes([10, 0, 0, 5, 0, 80, 6]) and value[7] & abi.SVC_USED
    assert int.from_bytes(value[8:12], "little") >= 1  # a torn slot's id 0 is no service


def test_membership_change_zeroes_only_counted_slots() -> None:
    cur = dests(10)
    new = [*cur, Destination("10.1.1.1", "02:00:00:00:02:01"), *dests(13)[10:]]
    # Free slots are handed out from 0, never used ones first: slot 2 holds
    # a backend removed long ago, so it comes last.  Slot 0 counted packets
    # (for a backend removed before its entry was ever overwritten).
    cmds, flips = plan(snapshot(cur), new, frozenset({0}))
    assert set(written(cmds)) == {0, 1, 3, 4}
    zeroed = lines_to("backend_stats", cmds)
    assert zeroed == [line for line in zeroed if "key hex 00 00 00 00 " in line] and zeroed
    assert flipped(flips).gen == SVC.gen + 1


def test_generation_wraps_without_zero() -> None:
    assert abi.next_generation(abi.GEN_MAX) == 1 and abi.next_generation(0) == 1
    assert abi.next_generation(65535) == 65536
    old = dataclasses.replace(SVC, gen=abi.GEN_MAX)
    cur = dests(3)
    _, flips = plan(snapshot(cur, old), cur[:2])
    assert flipped(flips).gen == 1


def test_decoding_skips_free_slots_and_is_shared() -> None:
    snap = snapshot(dests(5))
    assert sorted(snap.table.entries) == [2, 10, 11, 12, 13, 14]
    again = snapshot(dests(5))
    assert again.table is snap.table  # the same bytes: decoded once
    assert snap.table.dest(10, 0) == Destination("10.1.0.1", "02:00:00:00:01:01")
    assert snap.table.member_slots(SVC) == [10, 11, 12, 13, 14]  # not slot 2: no member bit


def test_decoding_a_changed_array_matches_decoding_it_afresh() -> None:
    rng = random.Random(5)

    def some(ip: str) -> bytes:
        return abi.BackendEntry(ip, "02:00:00:00:02:01", 3, rng.randrange(4), (1, 2)).pack()

    packed = {
        i: some(f"10.2.{i // 250}.{i % 250 + 1}") for i in rng.sample(range(abi.MAX_BACKENDS), 600)
    }
    dump = bpfsys.ArrayDump(array(packed), abi.MAX_BACKENDS, 1, ENTRY_SIZE, ENTRY_SIZE)
    decoded_backends.decode(dump)
    for _ in range(20):
        for i in rng.sample(range(abi.MAX_BACKENDS), rng.choice([1, 2, 50])):
            if i in packed and rng.random() < 0.3:
                del packed[i]  # a freed slot
            else:
                packed[i] = some("10.3.0.1")
        dump = bpfsys.ArrayDump(array(packed), abi.MAX_BACKENDS, 1, ENTRY_SIZE, ENTRY_SIZE)
        delta = decoded_backends.decode(dump)
        fresh = decoded_backends._decode_fresh(dump)
        assert delta.entries == fresh.entries and delta.groups == fresh.groups


def test_a_health_drain_is_its_own_bit_and_leaves_the_ring() -> None:
    cur = dests(6)
    cur[1] = dataclasses.replace(cur[1], drained=True)  # an operator's drain
    down = [dataclasses.replace(d, down=True) if i in (1, 2) else d for i, d in enumerate(cur)]
    cmds, flips = plan(snapshot(cur), down)
    before, after = written(cmds), written(flips)
    assert {i: (e.drained, e.down) for i, e in before.items()} == {11: (3, 2), 12: (0, 2)}
    assert {i: (e.drained, e.down) for i, e in after.items()} == {11: (3, 3), 12: (0, 3)}
    ring = {
        int.from_bytes(
            bytes.fromhex(line.split(" value hex ")[1].replace(" ", ""))[k : k + 4], "little"
        )
        for line in lines_to("rings", cmds)
        for k in range(0, abi.CHUNK_SLOTS * 4, 4)
    }
    assert not ring & {11, 12}, "a backend the health checker drained is in no ring"
