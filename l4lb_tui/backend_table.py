"""The `backends` array decoded: which slots are whose members (no I/O).

A slot is a member of its service while the service's live half has the
slot's member bit (see struct backend); its weight and drain are that half's.
The other half is the idle ring's: what an unfinished reload left there is
invisible here, and the next reload writes it again.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from l4lb_tui import layout as L
from l4lb_tui.bpfsys import ArrayDump
from l4lb_tui.destinations import Destination

_EMPTY_IP = bytes(4)
Group = tuple[int, int]  # (svc_id, half)


@dataclass(frozen=True, slots=True)
class BackendTable:
    """The occupied slots of one read, and each (service, half)'s members in
    slot order.  `raw` is the array as the kernel returned it (entry i at
    i * `step`), to tell which entries a reload really changes."""

    entries: dict[int, L.BackendEntry]
    groups: dict[Group, list[int]]
    raw: bytes
    step: int

    def member_slots(self, svc: L.ServiceValue) -> list[int]:
        return self.groups.get((svc.svc_id, svc.live_half), [])

    def dest(self, idx: int, half: int) -> Destination:
        """Slot idx as a member of a service whose live half is `half`."""
        return destination(self.entries[idx], half)

    def members(self, svc: L.ServiceValue) -> list[Destination]:
        half = svc.live_half
        return [destination(self.entries[idx], half) for idx in self.member_slots(svc)]


# Decoded entries by slot and bytes, and their views, shared by every reader
# in the process: the console decodes once per poll, and a poll after a
# one-backend edit then decodes that one entry, not 4096.
_ENTRIES: dict[tuple[int, bytes], L.BackendEntry] = {}
_VIEWS: dict[tuple[L.BackendEntry, int], Destination] = {}
# The last array decoded, whole: a poll and then an edit read the same bytes.
_LAST: list[tuple[tuple[int, int, int], BackendTable]] = []


def destination(e: L.BackendEntry, half: int) -> Destination:
    found = _VIEWS.get((e, half))
    if found is None:
        weight, drained, down = e.view(half)
        found = _VIEWS[(e, half)] = Destination(e.ip, e.mac, weight, drained, down)
    return found


def decode(dump: ArrayDump) -> BackendTable:
    """The table a batch read of `backends` returned.  Tables are shared
    between callers: read them, never change them."""
    if len(_ENTRIES) > 4 * L.MAX_BACKENDS:
        _ENTRIES.clear()
        _VIEWS.clear()
    shape = (dump.cpus, dump.stride, dump.value_size)
    done = None
    for last_shape, last in _LAST:
        if last_shape == shape and last.raw == dump.raw:
            return last
        if last_shape == shape and len(last.raw) == len(dump.raw):
            done = _decode_delta(dump, last)
    if done is None:
        done = _decode_fresh(dump)
    _LAST[:] = [(shape, done)]
    return done


def _entry(idx: int, value: bytes) -> L.BackendEntry:
    found = _ENTRIES.get((idx, value))
    if found is None:
        found = _ENTRIES[(idx, value)] = L.BackendEntry.unpack(value)
    return found


def _groups_of(e: L.BackendEntry) -> list[Group]:
    return [(e.svc_id, h) for h in (0, 1) if e.member >> h & 1]


def _decode_fresh(dump: ArrayDump) -> BackendTable:
    raw, step, size = dump.raw, dump.cpus * dump.stride, dump.value_size
    entries: dict[int, L.BackendEntry] = {}
    groups: dict[Group, list[int]] = {}
    for idx in range(dump.count):
        off = idx * step
        if raw.startswith(_EMPTY_IP, off):
            continue
        e = entries[idx] = _entry(idx, raw[off : off + size])
        for g in _groups_of(e):
            groups.setdefault(g, []).append(idx)
    return BackendTable(entries, groups, raw, step)


def _decode_delta(dump: ArrayDump, last: BackendTable) -> BackendTable:
    """The last table, updated where the bytes differ: after an edit (or
    another process's), a poll finds a few entries changed, not 4096."""
    raw, old, step = dump.raw, last.raw, dump.cpus * dump.stride
    block = 64 * step
    slots = [
        at // step
        for start in range(0, len(raw), block)
        if raw[start : start + block] != old[start : start + block]
        for at in range(start, min(start + block, len(raw)), step)
        if raw[at : at + step] != old[at : at + step]
    ]
    entries = dict(last.entries)
    groups = {k: list(v) for k, v in last.groups.items()}
    for idx in slots:
        gone = entries.pop(idx, None)
        if gone is not None:
            for g in _groups_of(gone):
                groups[g].remove(idx)
        if raw.startswith(_EMPTY_IP, idx * step):
            continue
        e = entries[idx] = _entry(idx, raw[idx * step : idx * step + dump.value_size])
        for g in _groups_of(e):
            bisect.insort(groups.setdefault(g, []), idx)
    return BackendTable(entries, {k: v for k, v in groups.items() if v}, raw, step)
