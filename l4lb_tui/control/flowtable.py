"""The flow tables' maps, sized by the operator at attach: created before the
program is loaded (the object's own definitions hold the old fixed sizes),
and read back by what must know the size (stats, a second attach).  Each
table is three maps (entries, tags, picks): IPv4's flows, flow_tags and
flow_picks, IPv6's flows6, flow6_tags and flow6_picks."""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator
from pathlib import Path

from l4lb_tui import abi, abi6, bpfsys, flowlive, flowsize
from l4lb_tui.bpftool import STAGING_ROOT
from l4lb_tui.control.handle import Handle
from l4lb_tui.errors import BalancerError
from l4lb_tui.model import FlowOccupancy

# Tag lines read for occupancy: the whole table up to 1M slots (1 MiB of
# tags), a prefix of this many lines beyond.  The bucket is the flow hash's
# top bits, so any run of lines is an even sample of the table.
OCCUPANCY_LINES = 16384
# A tag that stores a flow: 1..127 (0 is empty, 0x80|fp only marks a flow
# seen once).
_STORED = bytes(1 if 1 <= t <= 127 else 0 for t in range(256))
# Stored IPv4 entries whose age is read in one scan: their live share is the
# table's beyond that many (an estimate, `sampled`).  A read costs ~7 us a run
# and ~0.4 us an entry (BENCHMARKS.md), so stored slots fewer than RUN_GAP
# apart are read in one run, and where they lie that close (a table over
# 1/RUN_GAP full) up to 8 times as many are read for the same cost.
LIVE_SAMPLE = 1024
RUN_GAP = 16
# A table this small is read whole (~7 ms): exact however many it stores.
WHOLE_SLOTS = 16384

# Value sizes of the maps (the entries, and one cache line of tags or picks
# per array element).
_VALUE_SIZES = {
    "flows": abi.FLOW.size,
    "flow_tags": abi.FLOW_TAGS_PER_ENTRY,
    "flow_picks": abi.FLOW_PICKS_PER_ENTRY * flowsize.PICK_BYTES,
    "flows6": abi6.FLOW6.size,
    "flow6_tags": abi.FLOW_TAGS_PER_ENTRY,
    "flow6_picks": abi.FLOW_PICKS_PER_ENTRY * flowsize.PICK_BYTES,
}


@contextlib.contextmanager
def created(
    h: Handle, flows: int, flows6: int = flowsize.DEFAULT_FLOWS6
) -> Iterator[dict[str, Path]]:
    """The three maps for `flows` slots and IPv6's for `flows6`, pinned in a
    staging directory for the load to take (it pins them again among the
    balancer's own); the staging pins go afterwards, whatever happened."""
    staging = STAGING_ROOT / f"{h.pin_dir.name}-flows"
    h.bpftool.unpin_tree(staging)
    try:
        staging.mkdir(parents=True, exist_ok=True)
        pins = {}
        maps = {**flowsize.map_entries(flows), **flowsize.map_entries6(flows6)}
        for name, entries in maps.items():
            pin = staging / name
            h.bpftool.map_create(pin, "array", 4, _VALUE_SIZES[name], entries, name)
            pins[name] = pin
        yield pins
    finally:
        h.bpftool.unpin_tree(staging)
        with contextlib.suppress(OSError):
            STAGING_ROOT.rmdir()  # only when empty: another attach may stage beside it


def slots(h: Handle, name: str = "flows") -> int:
    """The running balancer's flow table size (`flows6`: IPv6's), read from
    its map (right for pins made before the size was recorded in the config
    too)."""
    try:
        with bpfsys.opened(bpfsys.obj_get(h.map_pin(name))) as fd:
            return bpfsys.map_info(fd).max_entries
    except bpfsys.BpfSysError as exc:
        raise BalancerError(f"cannot read the flow table of {h.ifname}: {exc}") from None


def _first_values(h: Handle, name: str, limit: int) -> tuple[bpfsys.MapInfo, bytes, int] | None:
    """The map `name`'s info and the packed values of its first `limit`
    entries at most (and how many were read); None when it has no such
    map or cannot be read."""
    try:
        fd = bpfsys.obj_get(h.map_pin(name))
    except bpfsys.BpfSysError:
        return None
    with bpfsys.opened(fd):
        info = bpfsys.map_info(fd)
        try:
            _, values, count = next(
                bpfsys.lookup_batches(fd, info, chunk=min(info.max_entries, limit))
            )
        except (bpfsys.BpfSysError, StopIteration):
            return None
    return info, bytes(values[: count * info.slot_size]), count  # an array's values are packed


def _scaled(live: int, read: int, capacity: int, sampled: bool = False) -> FlowOccupancy:
    entries = live if read >= capacity else round(live * capacity / read) if read else 0
    return FlowOccupancy(capacity, entries, sampled=sampled or read < capacity)


def _clock(h: Handle) -> tuple[tuple[int, ...], int]:
    """The lifetimes by state and the flow clock now: read after the
    entries, so no entry's stamp is newer than `now`."""
    ttl = h.config().ttl
    try:
        return ttl, bpfsys.jiffies32()
    except bpfsys.BpfSysError as exc:
        raise BalancerError(f"cannot read the kernel's flow clock: {exc}") from None


def _entries(h: Handle, table: str, runs: list[tuple[int, int]]) -> bytes | None:
    try:
        with bpfsys.opened(bpfsys.obj_get(h.map_pin(table))) as fd:
            return bpfsys.lookup_runs(fd, bpfsys.map_info(fd), runs)
    except bpfsys.BpfSysError:
        return None


def _runs(mask: bytes, stored: int) -> list[tuple[int, int]]:
    """The entries to read: a small table's all, else the first LIVE_SAMPLE
    stored ones (`mask`: one byte a slot, 1 where a tag stores a flow)."""
    if not stored:
        return []
    if len(mask) <= WHOLE_SLOTS:
        return [(0, len(mask))]
    dense = min(8, max(1, RUN_GAP * stored // len(mask)))
    return flowlive.runs(flowlive.first_stored(mask, LIVE_SAMPLE * dense), RUN_GAP)


# Each table's maps and where its entries keep their stamp and state.
_TABLES = {
    "flows": ("flow_tags", abi.FLOW.size, flowlive.SEEN4, flowlive.STATE4),
    "flows6": ("flow6_tags", abi6.FLOW6.size, flowlive.SEEN6, flowlive.STATE6),
}


def occupancy(h: Handle, table: str = "flows") -> FlowOccupancy | None:
    """Slots of `table` (`flows6`: the IPv6 table) that store a live entry
    (flowlive: within its lifetime): the stored ones from the tags, then
    their entries' ages (beyond LIVE_SAMPLE stored, the share live among the
    first LIVE_SAMPLE, an estimate); None when the balancer has no such
    table."""
    tags, size, seen_at, state_at = _TABLES[table]
    got = _first_values(h, tags, OCCUPANCY_LINES)
    if got is None:
        return None
    info, raw, count = got
    mask = raw.translate(_STORED)
    stored = mask.count(1)
    runs = _runs(mask, stored)
    entries = _entries(h, table, runs)
    if entries is None:
        return None
    ttl, now = _clock(h)
    read = b"".join(mask[s : s + n] for s, n in runs)
    live = flowlive.live_count(entries, size, read, ttl, now, seen_at, state_at)
    return _scaled(
        flowlive.scaled_live(stored, read.count(1), live),
        count * info.value_size,
        info.max_entries * info.value_size,
        sampled=read.count(1) < stored,
    )


def occupancy6(h: Handle) -> FlowOccupancy | None:
    return occupancy(h, "flows6")


def refuse_resize(h: Handle, flows: int | None, name: str = "flows") -> None:
    """A loaded balancer keeps its tables: a new size is a new load."""
    if flows is None:
        return
    running = slots(h, name)
    if running != flows:
        table, option = (
            ("an IPv6 flow table", "--flows6") if name == "flows6" else ("a flow table", "--flows")
        )
        detach = h.where.netns.command(f"l4lb detach -i {shlex.quote(h.ifname)}")
        raise BalancerError(
            f"{h.ifname} runs with {table} of {running:,} flows ({flowsize.human(running)}); "
            f"for {flows:,}, '{detach}' then attach with {option} "
            f"{flowsize.human(flows)} and load again (its flows are forgotten)"
        )
