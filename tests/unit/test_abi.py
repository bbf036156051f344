"""The control plane's mirror of the data plane's ABI (l4lb_tui/abi.py)
against the BTF of the built objects: every struct with its fields, offsets
and sizes, every mirrored constant and enum, and every map's size.
(bpftool reads the object files; no privilege or kernel is needed.)"""

from __future__ import annotations

import json
import struct
import subprocess
from functools import cache
from typing import Any

import pytest

from l4lb_tui import abi, abi6, flowsize
from l4lb_tui.paths import bpf_object


@cache
def btf(name: str) -> dict[int, dict[str, Any]]:
    out = subprocess.run(  # noqa: S603
        ["bpftool", "btf", "dump", "file", str(bpf_object(name)), "-j"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {t["id"]: t for t in json.loads(out)["types"]}


def named(types: dict[int, dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [t for t in types.values() if t["kind"] == kind and t.get("name") == name]
    assert len(found) == 1, f"{kind} {name} in the BTF: {len(found)} found"
    return found[0]


def size_of(types: dict[int, dict[str, Any]], tid: int) -> int:
    t = types[tid]
    if t["kind"] in ("TYPEDEF", "CONST", "VOLATILE"):
        return size_of(types, t["type_id"])
    if t["kind"] == "ARRAY":
        return int(t["nr_elems"]) * size_of(types, t["type_id"])
    if t["kind"] == "PTR":
        return 8
    return int(t["size"])


STRUCTS = {**abi.STRUCTS, **abi6.STRUCTS6}


def c_struct(name: str) -> struct.Struct:
    return abi.c_struct(name) if name in abi.STRUCTS else abi6.c_struct6(name)


@pytest.mark.parametrize("name", list(STRUCTS))
def test_every_struct_field_sits_where_the_c_puts_it(name: str) -> None:
    types = btf("l4lb_xdp.o")
    c = named(types, "STRUCT", name)
    fields = STRUCTS[name]
    assert [m["name"] for m in c["members"]] == [f for f, _ in fields]
    offset = 0
    for member, (field, fmt) in zip(c["members"], fields, strict=True):
        assert member["bits_offset"] == offset * 8, f"{name}.{field}"
        assert size_of(types, member["type_id"]) == struct.calcsize("<" + fmt), f"{name}.{field}"
        offset += struct.calcsize("<" + fmt)
    assert c["size"] == c_struct(name).size == offset


def test_every_mirrored_constant_matches() -> None:
    values = {v["name"]: v["val"] for v in named(btf("l4lb_abi.o"), "ENUM", "l4lb_abi")["values"]}
    mirrored = {
        "LAYOUT_VERSION": abi.LAYOUT_VERSION,
        "MAX_SERVICES": abi.MAX_SERVICES,
        "MAX_BACKENDS": abi.MAX_BACKENDS,
        "SVC_BUCKET": abi.SVC_BUCKET,
        "SVC_BUCKETS_LOG2": abi.SVC_BUCKETS_LOG2,
        "SVC_USED": abi.SVC_USED,
        "SVC_VIP": abi.SVC_VIP,
        "SVC_FILL_MAGLEV": abi.SVC_FILL_MAGLEV,
        "CHUNK_SLOTS": abi.CHUNK_SLOTS,
        "RING_CHUNKS_LOG2": abi.RING_CHUNKS_LOG2,
        "CFG_CATCH_ALL": abi.CFG_CATCH_ALL,
        "FLOW_SLOTS_LOG2": abi.FLOW_SLOTS.bit_length() - 1,
        "VIP_FILTER_ENTRIES": abi.VIP_FILTER_ENTRIES,
        "VIP_FILTER_WORDS": abi.VIP_FILTER_WORDS,
        "FLOW_STATE_SLOTS": abi.FLOW_STATE_SLOTS,
        "CFG_FLOW_LOG2_SHIFT": abi.CFG_FLOW_LOG2_SHIFT,
        "CFG_FLOW_LOG2_MASK": abi.CFG_FLOW_LOG2_MASK,
        "FLOW_TAGS_PER_ENTRY": abi.FLOW_TAGS_PER_ENTRY,
        "FLOW_PICKS_PER_ENTRY": abi.FLOW_PICKS_PER_ENTRY,
        "FLOW_LOG2_MAX": flowsize.MAX_LOG2,
        "SVC6_BUCKET": abi6.SVC6_BUCKET,
        "SVC6_BUCKETS_LOG2": abi6.SVC6_BUCKETS_LOG2,
        "FLOW6_SLOTS_LOG2": abi6.FLOW6_SLOTS.bit_length() - 1,
        "IP6_HOP_LIMIT": abi6.IP6_HOP_LIMIT,
        "CFG_FLOW6_LOG2_SHIFT": abi6.CFG_FLOW6_LOG2_SHIFT,
        "CFG_FLOW6_LOG2_MASK": abi6.CFG_FLOW6_LOG2_MASK,
        "FLOW6_STAT_BASE": abi6.FLOW6_STAT_BASE,
    }
    assert {k.removeprefix("ABI_"): v for k, v in values.items()} == mirrored


@pytest.mark.parametrize(
    ("c_enum", "prefix", "mirror", "sentinels"),
    [
        ("reason", "R_", abi.Reason, {"MAX", "BALANCE", "IPV6"}),
        ("flow_stat", "FLOW_", abi.FlowStat, {"STAT_MAX"}),
        ("flow_state", "FLOW_", abi.FlowState, {"STATES"}),
    ],
)
def test_every_enum_matches(c_enum: str, prefix: str, mirror: Any, sentinels: set[str]) -> None:
    values = named(btf("l4lb_abi.o"), "ENUM", c_enum)["values"]
    c = {v["name"].removeprefix(prefix): v["val"] for v in values}
    assert {k: v for k, v in c.items() if k not in sentinels} == {m.name: m.value for m in mirror}
    # R_IPV6, the v6 path's pseudo-reason, sits one past R_BALANCE.
    assert all(c[s] == len(mirror) + (s == "IPV6") for s in sentinels)


def test_every_map_has_the_mirrored_size() -> None:
    types = btf("l4lb_xdp.o")
    maps = named(types, "DATASEC", ".maps")
    expected = {
        "config": (1, abi.c_struct("config").size),
        "vip_filter": (abi.VIP_FILTER_ENTRIES, abi.c_struct("vip_filter").size),
        "svc_index": (abi.SVC_SLOTS, abi.c_struct("svc_slot").size),
        "svc_live": (abi.MAX_SERVICES + 1, abi.c_struct("svc_live").size),
        "rings": (abi.MAX_SERVICES * 2 * abi.RING_CHUNKS, abi.c_struct("ring_chunk").size),
        "backends": (abi.MAX_BACKENDS, abi.c_struct("backend").size),
        "backend_stats": (abi.MAX_BACKENDS, abi.c_struct("counters").size),
        "reasons": (len(abi.Reason), abi.c_struct("counters").size),
        "flows": (abi.FLOW_SLOTS, abi.c_struct("flow").size),
        "flow_stats": (2 * len(abi.FlowStat), 8),
        "config6": (1, abi6.c_struct6("config6").size),
        "backend6": (abi.MAX_BACKENDS, abi6.c_struct6("backend6").size),
        "flows6": (abi6.FLOW6_SLOTS, abi6.c_struct6("flow6").size),
        "svc6": (abi6.SVC6_SLOTS, abi6.c_struct6("svc6_slot").size),
    }
    found = {}
    for var in maps["vars"]:
        v = types[var["type_id"]]
        members = {m["name"]: m["type_id"] for m in types[v["type_id"]]["members"]}
        entries = types[types[members["max_entries"]]["type_id"]]["nr_elems"]
        value = size_of(types, types[members["value"]]["type_id"])
        found[v["name"]] = (entries, value)
    assert {k: found[k] for k in expected} == expected
    data_plane_only = {"flow_tags", "flow_picks", "flow6_tags", "flow6_picks"}
    assert set(found) - set(expected) == data_plane_only
    assert {
        "config": found["config"][1],
        "svc_index": found["svc_index"][1],
        "svc_live": found["svc_live"][1],
        "backends": found["backends"][1],
        "backend_stats": found["backend_stats"][1],
    } == abi.VALUE_SIZES
