"""The IPv6 service index (`svc6`, a direct-mapped array since issue 17's
speed work): the planner places v6 keys and markers in it, in their own
bucket and slot space, and svc6.decode reads back what it wrote (no kernel)."""

from __future__ import annotations

import dataclasses

import pytest

from l4lb_tui import abi, abi6, svc6, svcindex
from l4lb_tui.destinations import Destination
from l4lb_tui.reload_plan import PlanError, Planner
from l4lb_tui.ring_fill import DEFAULT_RING_SIZE, FillMode
from tests.unit.test_planner import IDS, key_of, lines_to, snapshot, stats, value_of

VIP6 = "2001:db8::4"
KEY6 = abi.ServiceKey(VIP6, 8080, abi.PROTO_TCP)
DESTS6 = [Destination(f"2001:db8::{11 + i:x}", f"02:00:00:00:01:{11 + i:02x}") for i in range(3)]


def fresh_planner() -> Planner:
    snap = dataclasses.replace(snapshot([]), services={}, slots={})
    return Planner(snap, lambda: stats(set()), IDS)


def index_of(lines: list[str]) -> bytes:
    """The svc6 array as `lines` leave an empty one."""
    raw = bytearray(abi6.SVC6_SLOTS * abi6.SVC6_SLOT_SIZE)
    for line in lines_to("svc6", lines):
        at = key_of(line) * abi6.SVC6_SLOT_SIZE
        raw[at : at + abi6.SVC6_SLOT_SIZE] = value_of(line)
    return bytes(raw)


def test_a_v6_service_and_its_marker_get_slots_of_their_bucket_in_svc6() -> None:
    planner = fresh_planner()
    markers = planner.vip_markers({VIP6})
    _, flips = planner.service(KEY6, DESTS6, FillMode.MAGLEV, DEFAULT_RING_SIZE)
    assert lines_to("svc_index", markers + flips) == []
    (marker_line,) = lines_to("svc6", markers)
    (key_line,) = lines_to("svc6", flips)
    assert key_of(key_line) // abi6.SVC6_BUCKET == abi6.svc6_bucket(VIP6, 8080, abi.PROTO_TCP)
    assert key_of(marker_line) // abi6.SVC6_BUCKET == abi6.svc6_bucket(VIP6, 0, 0)
    assert abi6.unpack_svc6_slot(value_of(marker_line)) == (
        VIP6,
        0,
        0,
        abi.SVC_USED | abi.SVC_VIP,
        0,
    )
    vip, port, proto, flags, svc_id = abi6.unpack_svc6_slot(value_of(key_line))
    assert (vip, port, proto) == (VIP6, 8080, abi.PROTO_TCP)
    assert flags == abi.SVC_USED | abi.SVC_FILL_MAGLEV and svc_id >= 1
    # Read back as the control plane reads the map.
    value = planner.live[KEY6]
    lives = bytearray(16 * (abi.MAX_SERVICES + 1))
    lives[svc_id * 16 : svc_id * 16 + 16] = value.pack_live()
    services, found = svc6.decode(index_of(markers + flips), abi6.SVC6_SLOT_SIZE, bytes(lives), 16)
    assert found == {VIP6: key_of(marker_line)}
    assert services == {KEY6: (key_of(key_line), value)}


def test_v4_and_v6_slots_do_not_share_a_space() -> None:
    """A v6 key's slot number may equal a v4 one's: each is in its own map."""
    planner = fresh_planner()
    v6_slot = abi6.svc6_bucket(VIP6, 8080, abi.PROTO_TCP) * abi6.SVC6_BUCKET
    v4 = abi.ServiceKey("10.0.0.4", 80, abi.PROTO_TCP)
    planner.slots[v4] = v6_slot  # a v4 service that happens to hold that number
    _, flips = planner.service(KEY6, DESTS6, FillMode.MAGLEV, DEFAULT_RING_SIZE)
    assert key_of(lines_to("svc6", flips)[0]) == v6_slot


def test_a_full_v6_bucket_is_refused_and_emptied_slots_are_zeroed() -> None:
    planner = fresh_planner()
    bucket = abi6.svc6_bucket(VIP6, 8080, abi.PROTO_TCP)
    others = [abi.ServiceKey(VIP6, 8080, abi.PROTO_UDP), svcindex.marker(VIP6)]
    for i in range(abi6.SVC6_BUCKET):
        planner.slots[dataclasses.replace(others[0], port=10_000 + i)] = bucket * 4 + i
    with pytest.raises(PlanError, match="IPv6 service index"):
        planner.service(KEY6, DESTS6, FillMode.MAGLEV, DEFAULT_RING_SIZE)
    planner = fresh_planner()
    planner.vip_markers({VIP6})
    (line,) = planner.stale_markers()
    assert line.startswith(f"map update id {IDS['svc6']} ")
    assert value_of(line) == bytes(abi6.SVC6_SLOT_SIZE)


def test_the_bucket_hash_mirrors_the_data_planes_words() -> None:
    """svc6_bucket reads the fold and the port as the program loads them."""
    fold = abi6.addr6_fold(VIP6)
    wire_port = int.from_bytes((8080).to_bytes(2, "big"), "little")
    h = (fold * 0x9E3779B1 ^ ((wire_port << 16) | 6) * 0x85EBCA6B) & 0xFFFFFFFF
    assert abi6.svc6_bucket(VIP6, 8080, 6) == h >> (32 - abi6.SVC6_BUCKETS_LOG2)
    assert abi6.SVC6_SLOT_SIZE == 32  # two per cache line
