"""The reload planner: which map entries a reload writes, and in which order
around each service's flip (no I/O; the batch lines it returns name maps by
id).

A reload of a service writes only its idle half: the idle ring, and the idle
half of every backend entry whose view there must change (members of the new
set, and slots of the service whose idle half still says member from an
earlier, unfinished reload).  Then one write of `svc_live` flips the
service to that ring and that half.  After the flip, the other half of each
touched entry is made equal to the live one, so the next reload finds the
halves in step and writes only what it changes; nothing depends on that
write having happened.  However a reload is stopped, readers and the data
plane see the live half whole, and the next reload rewrites the idle half.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from l4lb_tui import abi, abi6, svc6, svcindex
from l4lb_tui.bpfsys import ArrayDump
from l4lb_tui.bpftool import Bpftool
from l4lb_tui.decoded_backends import DecodedBackends
from l4lb_tui.destinations import Destination
from l4lb_tui.ring_fill import FillMode, fill

# What a reload or a service removal writes (batch lines name them by id).
WRITTEN_MAPS = (
    "backends",
    "backend_stats",
    "rings",
    "svc_index",
    "svc_live",
    "vip_filter",
    "config",
    "backend6",
    "svc6",
    "config6",
)


class PlanError(Exception):
    """A reload that cannot be made (no free slot, id or index bucket)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The services and backend entries as one read found them."""

    services: dict[abi.ServiceKey, abi.ServiceValue]
    slots: dict[abi.ServiceKey, int]  # index slots of services and VIP markers (v6: in svc6)
    table: DecodedBackends
    orphans: tuple[int, ...] = ()  # live svc_live ids no index slot names (svcindex.orphans)

    def members(self, key: abi.ServiceKey) -> list[Destination] | None:
        svc = self.services.get(key)
        return None if svc is None else self.table.members(svc)


class Planner:
    """Plans one reload (of one or more services) against one snapshot."""

    def __init__(
        self, snap: Snapshot, read_stats: Callable[[], ArrayDump], ids: dict[str, int]
    ) -> None:
        self.snap = snap
        self.ids = ids
        self.live = dict(snap.services)
        self.slots = dict(snap.slots)
        self.table = snap.table
        self._read_stats = read_stats
        self._stats: ArrayDump | None = None
        # Slots of any service's live members are never handed out, nor are
        # slots this reload releases (packets may still be on their way) or
        # has handed out already.
        self.taken = {idx for v in self.live.values() for idx in self.table.member_slots(v)}
        self.claimed: set[int] = set()
        self.used_ids = {v.svc_id for v in self.live.values()}

    def final_keys(self) -> list[abi.ServiceKey]:
        return list(self.live)

    def _update(self, name: str, key: int, value: bytes) -> str:
        return Bpftool.update_cmd(self.ids[name], abi.u32(key), value)

    def _place(self, key: abi.ServiceKey) -> int:
        """The key's slot in its family's index (svc_index, or svc6 for v6)."""
        if key not in self.slots:
            v6 = abi6.is_ip6(key.vip)
            taken = {s for k, s in self.slots.items() if abi6.is_ip6(k.vip) == v6}
            try:
                self.slots[key] = (svc6.free_slot if v6 else svcindex.free_slot)(key, taken)
            except svcindex.ServiceIndexFull as exc:
                raise PlanError(str(exc)) from None
        return self.slots[key]

    def vip_markers(self, vips: set[str]) -> list[str]:
        """The writes of the marker slots these VIPs do not have yet."""
        new = sorted(vip for vip in vips if svcindex.marker(vip) not in self.slots)
        lines = []
        for vip in new:
            slot = self._place(svcindex.marker(vip))
            if abi6.is_ip6(vip):
                lines.append(svc6.marker_line(self.ids["svc6"], slot, vip))
                continue
            lines.append(self._update("svc_index", slot, svcindex.pack_marker(vip)))
        return lines

    def stale_markers(self) -> list[str]:
        """Empty the marker slots of VIPs no service uses any more (left by a
        reload stopped between its markers and its flips)."""
        vips = {k.vip for k in self.live if not k.is_catch_all}
        stale = [k for k in self.slots if k.proto == 0 and k.port == 0 and not k.is_catch_all]
        return [
            self._empty(k, self.slots.pop(k))
            for k in stale
            if k.vip not in vips and k not in self.live
        ]

    def _empty(self, key: abi.ServiceKey, slot: int) -> str:
        if abi6.is_ip6(key.vip):
            return svc6.empty_line(self.ids["svc6"], slot)
        return self._update("svc_index", slot, svcindex.empty_slot())

    def _new_svc_id(self) -> int:
        # Prefer an id no removed service left backends under: flow entries
        # of a removed service then never meet a new service's backends.
        recent = {e.svc_id for e in self.table.entries.values()}
        free = [i for i in range(1, abi.MAX_SERVICES + 1) if i not in self.used_ids]
        if not free:
            raise PlanError(f"all {abi.MAX_SERVICES} services are in use")
        choice = next((i for i in free if i not in recent), free[0])
        self.used_ids.add(choice)
        return choice

    def orphan_lines(self) -> list[str]:
        """Retire what a killed `service del` or first load left live (see
        svcindex.orphans), first thing in the batch, but for an id this
        reload gives a new service (its flip overwrites it)."""
        return [
            self._update("svc_live", i, bytes(abi.c_struct("svc_live").size))
            for i in self.snap.orphans
            if i not in {v.svc_id for v in self.live.values()}
        ]

    def _free_slots(self, count: int) -> list[int]:
        """Free slots, never used ones first: a slot that held a removed
        backend is handed out last, so that a connection whose first packet
        went to it (a pick names a slot) meets another server as seldom as
        can be."""
        busy = self.taken | self.claimed
        entries = self.table.entries
        never = [i for i in range(abi.MAX_BACKENDS) if i not in busy and i not in entries]
        used = [i for i in entries if i not in busy]
        free = (never + sorted(used))[:count]
        if len(free) < count:
            raise PlanError(
                f"not enough free backend slots: need {count:,}, "
                f"{abi.MAX_BACKENDS - len(busy):,} of {abi.MAX_BACKENDS:,} are free"
            )
        self.claimed.update(free)
        return free

    def _counted(self, idx: int) -> bool:
        """Whether a slot's counters hold anything (a backend removed earlier).

        A fresh backend must start from zero, but zeroing every new slot was
        half the lines of a first load; one bpf(2) read finds the few that
        need it."""
        if self._stats is None:
            self._stats = self._read_stats()
        step = self._stats.cpus * self._stats.stride
        off = idx * step
        return idx >= self._stats.count or self._stats.raw.count(0, off, off + step) != step

    def _raw(self, idx: int) -> bytes:
        step = self.table.step
        return self.table.raw[idx * step : idx * step + abi.VALUE_SIZES["backends"]]

    def service(
        self, key: abi.ServiceKey, dests: Sequence[Destination], mode: FillMode, ring_size: int
    ) -> tuple[list[str], list[str]]:
        """The writes before the service's flip, and the flip itself with
        what follows it."""
        old = self.live.get(key)
        if old is None:
            svc_id, half, gen = self._new_svc_id(), 0, abi.next_generation(0)
        else:
            svc_id, half, gen = old.svc_id, 1 - old.live_half, abi.next_generation(old.gen)
        indices, fresh = self._slots_for(old, dests)
        early, late = self._entry_writes(svc_id, half, dests, indices, fresh, old is None)
        before = self._addr6_lines(dests, indices, fresh)
        before += [self._update("backends", idx, e.pack()) for idx, e in early]
        before += [
            self._update("backend_stats", idx, bytes(16))
            for idx in sorted(fresh)
            if self._counted(idx)
        ]
        weights = [d.serving_weight for d in dests]
        ring = fill(mode, indices, [d.ip for d in dests], weights, ring_size)
        before += self._ring_lines(abi.ring_base(svc_id, half), ring)
        flags = abi.SVC_FILL_MAGLEV if mode is FillMode.MAGLEV else 0
        value = abi.ServiceValue(svc_id, abi.ring_base(svc_id, half), len(ring), gen, flags)
        self.live[key] = value
        # The flip: one write of svc_live, then a new service's index slot, so
        # its key is found only once its ring is live.
        flips = [self._update("svc_live", svc_id, value.pack_live())]
        if abi6.is_ip6(key.vip) and (old is None or old.flags != flags):
            flips.append(svc6.key_line(self.ids["svc6"], self._place(key), key, value))
        elif old is None or old.flags != flags:
            flips.append(self._update("svc_index", self._place(key), value.pack_slot(key)))
        flips += [self._update("backends", idx, e.pack()) for idx, e in late]
        return before, flips

    def _addr6_lines(
        self, dests: Sequence[Destination], indices: Sequence[int], fresh: set[int]
    ) -> list[str]:
        """`backend6` for fresh slots: a v6 backend's address, and zeros
        where a v4 backend takes a slot a v6 one left."""
        lines = []
        for d, idx in zip(dests, indices, strict=True):
            want = abi6.ip6_bytes(d.ip) if abi6.is_ip6(d.ip) else bytes(16)
            if idx in fresh and self.table.addr6(idx).ljust(16, b"\0") != want:
                lines.append(self._update("backend6", idx, want))
        return lines

    def _slots_for(
        self, old: abi.ServiceValue | None, dests: Sequence[Destination]
    ) -> tuple[list[int], set[int]]:
        """Each destination's slot: a member keeps its own (and its counters),
        a new one gets a free slot.  Also which slots are fresh."""
        current: dict[tuple[str, str], int] = {}
        if old is not None:
            for idx in self.table.member_slots(old):
                e = self.table.entries[idx]
                current[(e.ip, e.mac)] = idx
        keys = [(d.ip, d.mac) for d in dests]
        new_keys = [k for k in keys if k not in current]
        handed = iter(self._free_slots(len(new_keys)))
        fresh_by_key = {k: next(handed) for k in new_keys}
        indices = [current.get(k, fresh_by_key.get(k, -1)) for k in keys]
        return indices, set(fresh_by_key.values())

    def _entry_writes(
        self,
        svc_id: int,
        half: int,
        dests: Sequence[Destination],
        indices: Sequence[int],
        fresh: set[int],
        new_service: bool,
    ) -> tuple[list[tuple[int, abi.BackendEntry]], list[tuple[int, abi.BackendEntry]]]:
        """The entries to write before the flip (their idle half) and after
        it (the other half brought in step), by slot."""
        early: list[tuple[int, abi.BackendEntry]] = []
        late: list[tuple[int, abi.BackendEntry]] = []
        other = 1 - half
        entries = self.table.entries
        for d, idx in zip(dests, indices, strict=True):
            bits = (3 if d.drained else 0, 3 if d.down else 0)
            view = (d.weight, d.drained, d.down)
            if idx in fresh:
                e = abi.BackendEntry(d.ip, d.mac, svc_id).with_view(half, True, *view)
                synced = e.with_view(other, True, *view)
                # Nothing reads a service's members before its first flip.
                early.append((idx, synced if new_service else e))
                if not new_service:
                    late.append((idx, synced))
                continue
            now = entries[idx]
            if (
                now.member == 3
                and now.weights == (d.weight,) * 2
                and (now.drained, now.down) == bits
            ):
                continue  # in step, and staying as it is
            e = now.with_view(half, True, *view)
            if e != now:
                early.append((idx, e))
            synced = e.with_view(other, True, *view)
            if synced != e:
                late.append((idx, synced))
        # Removed members, and what a stopped reload left in the idle half,
        # leave it.  The other half (the live one until the flip) may still
        # say member: nothing reads it until the next reload clears it here.
        for idx in self._leftovers(svc_id, indices):
            e = entries[idx].with_view(half, False)
            if e != entries[idx]:
                early.append((idx, e))
        return sorted(early), sorted(late)

    def _leftovers(self, svc_id: int, members: Iterable[int]) -> list[int]:
        """Slots of the service that say member in either half but are not in
        the new set: removed members, and what a stopped reload wrote."""
        groups = self.table.groups
        either = set(groups.get((svc_id, 0), ())) | set(groups.get((svc_id, 1), ()))
        return sorted(either - set(members) - self.claimed)

    def _ring_lines(self, base: int, ring: list[int]) -> list[str]:
        step = abi.CHUNK_SLOTS
        return [
            self._update("rings", base + c // step, abi.pack_chunk(ring[c : c + step]))
            for c in range(0, len(ring), step)
        ]
