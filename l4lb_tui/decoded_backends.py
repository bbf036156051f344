"""The `backends` array decoded (no I/O): which slots are whose members, and
each service's members as the Backend lists callers read; with the cache
that makes decoding bytes seen before cost a comparison.

A slot is a member of its service while the service's live half has the
slot's member bit (see struct backend); its weight and drain are that half's.
The other half is the idle ring's: what an unfinished reload left there is
invisible here, and the next reload writes it again.
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from l4lb_tui import abi, abi6
from l4lb_tui.bpfsys import ArrayDump
from l4lb_tui.destinations import Destination
from l4lb_tui.model import Backend, Service

_EMPTY_IP = bytes(4)
Group = tuple[int, int]  # (svc_id, half)
Shape = tuple[int, int, int]  # (cpus, stride, value size) of a read
View = Callable[[abi.BackendEntry, int], Destination]
_ServiceEntries = tuple[tuple[abi.ServiceKey, abi.ServiceValue], ...]


def destination(e: abi.BackendEntry, half: int) -> Destination:
    """Entry `e` as a member of a service whose live half is `half`."""
    weight, drained, down = e.view(half)
    return Destination(e.ip, e.mac, weight, drained, down)


def _unpack(idx: int, value: bytes) -> abi.BackendEntry:
    return abi.BackendEntry.unpack(value)


@dataclass(frozen=True, slots=True)
class DecodedBackends:
    """The occupied slots of one read, and each (service, half)'s members in
    slot order.  `raw` is the array as the kernel returned it (entry i at
    i * `step`), to tell which entries a reload really changes; `view` makes
    an entry's Destination (its decoder's cache's, when it has one)."""

    entries: dict[int, abi.BackendEntry]
    groups: dict[Group, list[int]]
    raw: bytes
    step: int
    view: View = field(default=destination, compare=False, repr=False)
    addrs6: bytes = b""  # `backend6` as read: a v6 entry's address at 16 * slot

    def addr6(self, idx: int) -> bytes:
        """The v6 address `backend6` holds for slot idx (zeros: none)."""
        return self.addrs6[idx * 16 : idx * 16 + 16]

    def member_slots(self, svc: abi.ServiceValue) -> list[int]:
        return self.groups.get((svc.svc_id, svc.live_half), [])

    def dest(self, idx: int, half: int) -> Destination:
        """Slot idx as a member of a service whose live half is `half`."""
        return self.view(self.entries[idx], half)

    def members(self, svc: abi.ServiceValue) -> list[Destination]:
        half = svc.live_half
        return [self.view(self.entries[idx], half) for idx in self.member_slots(svc)]


class DecodeCache:
    """What its owner has decoded of the backends arrays it read: entries by
    slot and bytes, their views by half, the last array whole (a poll and
    then an edit read the same bytes; a poll after a one-backend edit decodes
    that one entry, not 4096), and each balancer's services as Backend lists
    (an unchanged balancer costs one comparison).

    A memo, never the truth: every use starts from bytes just read.  Its
    owner's threads share it (the console polls in a worker thread while an
    edit reads in another), so every use holds its lock.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._entries: dict[tuple[int, bytes], abi.BackendEntry] = {}
        self._views: dict[tuple[abi.BackendEntry, int], Destination] = {}
        self._last: tuple[Shape, DecodedBackends] | None = None
        self._addrs6 = b""
        self._services: dict[Path, tuple[_ServiceEntries, bytes, tuple[Service, ...]]] = {}
        self._backends: dict[tuple[int, Destination], Backend] = {}

    def table(self, dump: ArrayDump, addrs6: bytes = b"") -> DecodedBackends:
        """The table a batch read of `backends` (and of `backend6`, whose
        address names an entry whose `ip` is its fold) returned.  Tables are
        shared between callers: read them, never change them."""
        with self._lock:
            if len(self._entries) > 4 * abi.MAX_BACKENDS:
                self._entries.clear()
                self._views.clear()
            shape = (dump.cpus, dump.stride, dump.value_size)
            done = None
            same6 = addrs6 == self._addrs6
            self._addrs6 = addrs6
            if self._last is not None and self._last[0] == shape and same6:
                last = self._last[1]
                if last.raw == dump.raw:
                    return last
                if len(last.raw) == len(dump.raw):
                    done = _decode_delta(dump, last, self._entry)
            if done is None:
                done = _decode_fresh(dump, self._entry, self.view)
            done = dataclasses.replace(done, addrs6=addrs6)
            self._last = (shape, done)
            return done

    def view(self, e: abi.BackendEntry, half: int) -> Destination:
        with self._lock:
            found = self._views.get((e, half))
            if found is None:
                found = self._views[(e, half)] = destination(e, half)
            return found

    def services(
        self,
        pin_dir: Path,
        services: Mapping[abi.ServiceKey, abi.ServiceValue],
        table: DecodedBackends,
    ) -> tuple[Service, ...]:
        """Each service with its members in `table`, in key order; those of
        the balancer at `pin_dir` built last time when neither has changed."""
        entries = tuple(sorted(services.items()))
        with self._lock:
            cached = self._services.get(pin_dir)
            if cached is not None and cached[0] == entries and cached[1] == table.raw:
                return cached[2]
            built = tuple(
                Service(
                    key,
                    val,
                    tuple(
                        self._backend(idx, table.dest(idx, val.live_half))
                        for idx in table.member_slots(val)
                    ),
                )
                for key, val in entries
            )
            self._services[pin_dir] = (entries, table.raw, built)
            return built

    def _entry(self, idx: int, value: bytes) -> abi.BackendEntry:
        a6 = _addr6_of(self._addrs6, idx, value)
        found = self._entries.get((idx, value + a6))
        if found is None:
            found = abi.BackendEntry.unpack(value)
            if a6:
                found = dataclasses.replace(found, ip=abi6.ip6_text(a6))
            self._entries[(idx, value + a6)] = found
        return found

    def _backend(self, idx: int, d: Destination) -> Backend:
        found = self._backends.get((idx, d))
        if found is None:
            if len(self._backends) > 4 * abi.MAX_BACKENDS:
                self._backends.clear()
            # Weight 0 drains too: shown as draining, as ipvsadm's weight 0 is.
            draining = d.drained or not d.weight
            found = self._backends[(idx, d)] = Backend(idx, d.ip, d.mac, d.weight, draining, d.down)
        return found


# For a caller that keeps no cache of its own.
_SHARED = DecodeCache()


def decode(dump: ArrayDump) -> DecodedBackends:
    """`dump` decoded through the cache shared by every caller that keeps
    none of its own: read the table, never change it."""
    return _SHARED.table(dump)


def _addr6_of(addrs6: bytes, idx: int, value: bytes) -> bytes:
    """Slot idx's v6 address if its entry is a v6 backend's (its `ip` the
    address's fold; a v4 backend in a slot a v6 one left has its own), else b""."""
    a6 = addrs6[idx * 16 : idx * 16 + 16]
    if len(a6) < 16 or not any(a6) or abi6.fold_of(a6) != value[:4]:
        return b""
    return a6


def _groups_of(e: abi.BackendEntry) -> list[Group]:
    return [(e.svc_id, h) for h in (0, 1) if e.member >> h & 1]


def _decode_fresh(
    dump: ArrayDump,
    entry: Callable[[int, bytes], abi.BackendEntry] = _unpack,
    view: View = destination,
) -> DecodedBackends:
    raw, step, size = dump.raw, dump.cpus * dump.stride, dump.value_size
    entries: dict[int, abi.BackendEntry] = {}
    groups: dict[Group, list[int]] = {}
    for idx in range(dump.count):
        off = idx * step
        if raw.startswith(_EMPTY_IP, off):
            continue
        e = entries[idx] = entry(idx, raw[off : off + size])
        for g in _groups_of(e):
            groups.setdefault(g, []).append(idx)
    return DecodedBackends(entries, groups, raw, step, view)


def _decode_delta(
    dump: ArrayDump, last: DecodedBackends, entry: Callable[[int, bytes], abi.BackendEntry]
) -> DecodedBackends:
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
        e = entries[idx] = entry(idx, raw[idx * step : idx * step + dump.value_size])
        for g in _groups_of(e):
            bisect.insort(groups.setdefault(g, []), idx)
    return DecodedBackends(entries, {k: v for k, v in groups.items() if v}, raw, step, last.view)
