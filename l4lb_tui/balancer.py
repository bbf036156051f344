"""The balancer's control plane: attach, load backends, read state and counters.

It composes the two adapters (bpftool and netlink) and holds no state of its
own: everything is read back from the pinned maps, so any process (the CLI,
the console, a second console) sees the same balancer.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import gzip
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from l4lb_tui import bpfsys, modeswitch, svcindex
from l4lb_tui import layout as L
from l4lb_tui.bpf import PIN_ROOT, STAGING_ROOT, BpfError, Bpftool, XdpAttachment, pin_dir
from l4lb_tui.destinations import MAX_WEIGHT, Destination
from l4lb_tui.lock import LockedError, interface_lock, lock_path
from l4lb_tui.netlink import LinkInfo, Netlink, NetlinkError, validate_ifname
from l4lb_tui.paths import bpf_object
from l4lb_tui.slots import DEFAULT_RING_SIZE, FillMode, fill, is_prime

DRIVER_OBJ = "l4lb_xdp.o"
OFFLOAD_OBJ = "l4lb_xdp_offload.o"
DEFAULT_SADDR = "10.0.0.1"
# Debian's kernels; used only when the kernel's config cannot be read.
DEFAULT_HZ = 250
MODES = ("driver", "generic", "offload")


class BalancerError(Exception):
    """A request the balancer cannot carry out; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Backend:
    index: int
    ip: str
    mac: str
    weight: int
    draining: bool = False

    def destination(self) -> Destination:
        return Destination(self.ip, self.mac, self.weight, self.draining)


@dataclass(frozen=True, slots=True)
class Service:
    key: L.ServiceKey
    value: L.ServiceValue
    backends: tuple[Backend, ...]


@dataclass(frozen=True, slots=True)
class State:
    ifname: str
    config: L.Config
    attachment: XdpAttachment | None
    prog_id: int
    services: tuple[Service, ...]

    @property
    def mode(self) -> str:
        """Attached mode, or "" when our program is loaded but not attached."""
        if self.attachment and self.attachment.prog_id == self.prog_id:
            return self.attachment.mode
        return ""


@dataclass(frozen=True, slots=True)
class Counters:
    """One sample of every counter, with the time it was taken."""

    taken_at: float
    backends: dict[int, tuple[int, int]] = field(default_factory=dict)
    reasons: dict[L.Reason, tuple[int, int]] = field(default_factory=dict)
    flows: dict[L.FlowStat, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoadResult:
    services: tuple[L.ServiceKey, ...]
    destinations: int
    ring_size: int
    catch_all: bool
    mode: FillMode


_ServiceEntries = tuple[tuple[L.ServiceKey, L.ServiceValue], ...]
# What a reload or a service removal writes (batch lines name them by id).
_WRITTEN_MAPS = (
    "backends",
    "backend_stats",
    "rings",
    "svc_index",
    "svc_live",
    "vip_filter",
    "config",
)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The services and backend entries as one read found them.

    `raw` is the backends array as the kernel returned it (entry i at
    i * `step`), to tell which entries a reload really changes.
    """

    services: dict[L.ServiceKey, L.ServiceValue]
    slots: dict[L.ServiceKey, int]  # each service's svc_index slot
    entries: dict[int, L.BackendEntry]
    dests: dict[int, Destination]
    # Slots by (svc_id, gen), in slot order: a service's members are those
    # under its id and (16-bit) generation, as BackendEntry.is_member_of.
    groups: dict[tuple[int, int], list[int]]
    raw: bytes
    step: int

    def member_slots(self, svc: L.ServiceValue) -> list[int]:
        return self.groups.get((svc.svc_id, svc.gen & 0xFFFF), [])


# Decoded backend entries by slot and bytes, shared by every Balancer of the
# process: the console makes one per poll, and a poll after a one-backend
# edit then decodes that one entry, not 4096.
_DECODED: dict[tuple[int, bytes], tuple[L.BackendEntry, Destination]] = {}
_BACKENDS: dict[tuple[int, Destination], Backend] = {}
# Each interface's last members, by the service entries and the raw backends
# array they were built from: an unchanged balancer costs one comparison.
_MEMBERS: dict[Path, tuple[_ServiceEntries, bytes, tuple[Service, ...]]] = {}
_EMPTY_IP = bytes(4)


_Decoded = tuple[
    dict[int, L.BackendEntry], dict[int, Destination], dict[tuple[int, int], list[int]]
]
# The last array decoded, whole: a poll and then an edit read the same bytes.
_LAST: list[tuple[tuple[int, int, int], bytes, _Decoded]] = []


def _decode_backends(dump: bpfsys.ArrayDump) -> _Decoded:
    """The occupied slots of the backends array (a zero address is a free slot).

    The dicts are shared between callers: read them, never change them."""
    if len(_DECODED) > 4 * L.MAX_BACKENDS:
        _DECODED.clear()
        _BACKENDS.clear()
    shape = (dump.cpus, dump.stride, dump.value_size)
    done = None
    for last_shape, raw, last in _LAST:
        if last_shape == shape and raw == dump.raw:
            return last
        if last_shape == shape and len(raw) == len(dump.raw):
            done = _decode_delta(dump, raw, last)
    if done is None:
        done = _decode_fresh(dump)
    _LAST[:] = [(shape, dump.raw, done)]
    return done


def _decode_delta(dump: bpfsys.ArrayDump, old: bytes, last: _Decoded) -> _Decoded:
    """The last decoding, updated where the bytes differ: after an edit (or
    another process's), a poll finds a few entries changed, not 4096."""
    raw, step = dump.raw, dump.cpus * dump.stride
    block = 64 * step
    slots = [
        at // step
        for start in range(0, len(raw), block)
        if raw[start : start + block] != old[start : start + block]
        for at in range(start, min(start + block, len(raw)), step)
        if raw[at : at + step] != old[at : at + step]
    ]
    entries, dests = dict(last[0]), dict(last[1])
    groups = {k: list(v) for k, v in last[2].items()}
    for idx in slots:
        gone = entries.pop(idx, None)
        dests.pop(idx, None)
        if gone is not None:
            groups[(gone.svc_id, gone.gen)].remove(idx)
        if raw.startswith(_EMPTY_IP, idx * step):
            continue
        e, dests[idx] = _decode_one(idx, raw[idx * step : idx * step + dump.value_size])
        entries[idx] = e
        bisect.insort(groups.setdefault((e.svc_id, e.gen), []), idx)
    return entries, dests, {k: v for k, v in groups.items() if v}


def _decode_one(idx: int, value: bytes) -> tuple[L.BackendEntry, Destination]:
    found = _DECODED.get((idx, value))
    if found is None:
        e = L.BackendEntry.unpack(value)
        found = _DECODED[(idx, value)] = (e, Destination(e.ip, e.mac, e.weight, e.draining))
    return found


def _decode_fresh(dump: bpfsys.ArrayDump) -> _Decoded:
    raw, step, size = dump.raw, dump.cpus * dump.stride, dump.value_size
    entries: dict[int, L.BackendEntry] = {}
    dests: dict[int, Destination] = {}
    groups: dict[tuple[int, int], list[int]] = {}
    for idx in range(dump.count):
        off = idx * step
        if raw.startswith(_EMPTY_IP, off):
            continue
        e, dests[idx] = _decode_one(idx, raw[off : off + size])
        entries[idx] = e
        groups.setdefault((e.svc_id, e.gen), []).append(idx)
    return entries, dests, groups


def _backend(idx: int, d: Destination) -> Backend:
    found = _BACKENDS.get((idx, d))
    if found is None:
        found = _BACKENDS[(idx, d)] = Backend(idx, d.ip, d.mac, d.weight, d.drained)
    return found


class Balancer:
    """The balancer on one interface, found through its pins."""

    def __init__(
        self,
        ifname: str,
        bpftool: Bpftool | None = None,
        netlink: Netlink | None = None,
        netns: str | None = None,
        wait: float = 0.0,
    ) -> None:
        self.ifname = validate_ifname(ifname)
        self.wait = wait
        self._layout_ok = False
        self.bpftool = bpftool or Bpftool(netns=netns)
        self.netlink = netlink or Netlink(netns=netns)
        self.pin_dir = pin_dir(ifname)
        self.prog_pin = self.pin_dir / "prog"
        self.maps_dir = self.pin_dir / "maps"

    def map_pin(self, name: str) -> Path:
        return self.maps_dir / name

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The interface's write lock, for every change to the maps or link."""
        try:
            lock = interface_lock(self.pin_dir.name, self.wait)
            fd = lock.__enter__()
        except LockedError as exc:
            raise BalancerError(str(exc)) from None
        except OSError as exc:
            raise BalancerError(f"cannot take the lock of {self.ifname}: {exc.strerror}") from None
        self.bpftool.keep_fds = (fd,)
        try:
            yield
        finally:
            self.bpftool.keep_fds = ()
            lock.__exit__(None, None, None)

    # -- discovery --------------------------------------------------------

    def is_loaded(self) -> bool:
        return self.prog_pin.exists()

    def require_loaded(self) -> None:
        if self.is_loaded():
            self._check_layout()
            return
        if not self.is_loaded():
            if not self.bpftool.bpffs_mounted():
                raise BalancerError(
                    f"bpffs is not mounted at {PIN_ROOT.parent}, so no balancer pins are "
                    "visible (inside 'ip netns exec'? use 'l4lb --netns NAME ...')"
                )
            raise BalancerError(
                f"no balancer on {self.ifname}: run 'l4lb attach -i {self.ifname}' first"
            )

    def _check_layout(self) -> None:
        """Refuse pins made by a build with other map layouts (an upgrade while
        an older balancer runs) instead of misreading their bytes."""
        if self._layout_ok:
            return
        for name, size in L.VALUE_SIZES.items():
            # A read through bpf(2): one bpftool process per map cost the
            # console 4 processes a poll (it makes a Balancer per poll).
            try:
                fd = bpfsys.obj_get(self.map_pin(name))
                try:
                    found = bpfsys.map_info(fd).value_size
                finally:
                    os.close(fd)
            except (bpfsys.BpfSysError, OSError) as exc:
                raise BalancerError(
                    f"cannot read map {name} of {self.ifname}: {exc} "
                    f"(half-made pins? run 'l4lb detach -i {self.ifname}' and attach again)"
                ) from None
            if found != size:
                raise BalancerError(
                    f"the balancer on {self.ifname} was loaded by another version of l4lb "
                    f"(map {name} holds {found}-byte values, this version "
                    f"uses {size}): run 'l4lb detach -i {self.ifname}' and attach again"
                )
        self._layout_ok = True

    def prog_id(self) -> int:
        return int(self.bpftool.prog_show_pinned(self.prog_pin)["id"])

    def attachment(self) -> XdpAttachment | None:
        found = self.bpftool.net_show(self.ifname)
        return found[0] if found else None

    def link(self) -> LinkInfo:
        return self.netlink.link(self.ifname)

    def _link_exists(self) -> bool:
        try:
            self.link()
        except NetlinkError:
            return False
        return True

    # -- attach / detach ----------------------------------------------------

    def attach(
        self,
        mode: str = "driver",
        saddr: str | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> str:
        """Load (if needed), configure and attach; return what was done.

        `warn` hears, before it happens, of a switch that cannot be gapless.
        """
        with self._writing():
            return self._attach(mode, saddr, warn)

    def _attach(self, mode: str, saddr: str | None, warn: Callable[[str], None] | None) -> str:
        if mode not in MODES:
            raise BalancerError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
        link = self.link()
        self.bpftool.ensure_bpffs()
        current = self.attachment()
        loaded = self.is_loaded()
        ours = loaded and current is not None and current.prog_id == self.prog_id()
        if current is not None and not ours:
            raise BalancerError(
                f"{self.ifname} already runs XDP program id {current.prog_id} in "
                f"{current.mode} mode, not this balancer: detach it first "
                f"('ip link set dev {self.ifname} xdp off')"
            )
        if mode == "offload":
            return self._attach_offload(link, saddr)
        if not loaded:
            self._load(link, saddr or DEFAULT_SADDR)
        else:
            self._check_layout()
            # Re-attaching refreshes what the program copies from the link
            # (MAC, MTU), so an operator can pick up an MTU change.
            self._write_config(link, saddr)
        if ours and current is not None and current.mode == mode:
            return f"already attached to {self.ifname} in {mode} mode"
        if ours and current is not None:
            return self._switch_mode(current.mode, mode, warn)
        try:
            self.bpftool.net_attach(mode, self.prog_pin, self.ifname)
        except BpfError:
            if not loaded:
                self.bpftool.unpin_tree(self.pin_dir)
            raise
        return f"attached to {self.ifname} in {mode} mode"

    def _switch_mode(self, old: str, new: str, warn: Callable[[str], None] | None) -> str:
        """Driver <-> generic on a running balancer: see modeswitch."""
        if old not in modeswitch.SWITCHABLE:
            raise BalancerError(
                f"{self.ifname} runs this balancer in {old} mode, which cannot be switched: "
                f"run 'l4lb detach -i {self.ifname}', then attach in {new} mode"
            )
        guard = self._object(modeswitch.GUARD_OBJ)
        if warn is not None:
            warn(modeswitch.gap_warning(self.ifname, old, new))
        try:
            report = modeswitch.switch(
                self.bpftool, self.netlink, self.ifname, self.pin_dir, guard, old, new
            )
        except bpfsys.BpfSysError as exc:
            raise BalancerError(f"cannot switch {self.ifname} to {new} mode: {exc}") from None
        return report.message()

    def _attach_offload(self, link: LinkInfo, saddr: str | None) -> str:
        """Offload needs a device-bound program; load it beside any running one.

        Nothing here changes the running state until the kernel has accepted
        the offloaded program, so a refusal leaves everything as it was.
        """
        staging = STAGING_ROOT / pin_dir(self.ifname).name
        self.bpftool.unpin_tree(staging)
        try:
            staging.mkdir(parents=True, exist_ok=True)
            self.bpftool.prog_load(
                self._object(OFFLOAD_OBJ), staging / "prog", staging / "maps", self.ifname
            )
            self.bpftool.net_attach("offload", staging / "prog", self.ifname)
        except BpfError as exc:
            self.bpftool.unpin_tree(STAGING_ROOT)
            raise BalancerError(
                f"the kernel refused offload on {self.ifname}: {exc.message}; "
                "the running state is unchanged"
            ) from None
        # The kernel took the offloaded program (a NIC that can offload).  Moving
        # the running state into the NIC's maps is not built yet: take the new
        # program off again rather than leave a second, empty balancer serving.
        self.bpftool.net_detach("offload", self.ifname)  # pragma: no cover - NFP only
        self.bpftool.unpin_tree(STAGING_ROOT)  # pragma: no cover
        raise BalancerError(  # pragma: no cover
            f"{self.ifname} accepted offload, but moving a running balancer into the NIC "
            "is not supported yet; removed the offloaded program, the running state is "
            "unchanged"
        )

    def _object(self, name: str) -> Path:
        path = bpf_object(name)
        if not path.exists():
            raise BalancerError(
                f"BPF object {path} is not built: run 'make -C {path.parent}' "
                "(it needs clang: scripts/setup.sh installs it)"
            )
        return path

    def _load(self, link: LinkInfo, saddr: str) -> None:
        obj = self._object(DRIVER_OBJ)
        self.bpftool.unpin_tree(self.pin_dir)  # a stale half-made pin dir
        self.pin_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.bpftool.prog_load(obj, self.prog_pin, self.maps_dir)
            self._write_config(link, saddr)
        except BpfError:
            self.bpftool.unpin_tree(self.pin_dir)
            raise

    def config(self) -> L.Config:
        dump = self._read_array("config")
        if not dump.count:
            raise BalancerError(f"config map of {self.ifname} is unreadable")
        return L.Config.unpack(dump.raw[: dump.value_size])

    def _write_config(self, link: LinkInfo, saddr: str | None, flags: int | None = None) -> None:
        old = self.config()
        hz = kernel_hz()
        new = L.Config(
            saddr=saddr or (old.saddr if old.saddr != "0.0.0.0" else DEFAULT_SADDR),
            ifmac=link.mac,
            flags=old.flags if flags is None else flags,
            mtu=link.mtu,
            ttl_tcp=L.FLOW_TTL_TCP * hz,
            ttl_udp=L.FLOW_TTL_UDP * hz,
        )
        self.bpftool.map_update(self.map_pin("config"), L.u32(0), new.pack())

    def detach(self) -> str:
        with self._writing():
            done = self._detach()
            # Unlinked while held: see interface_lock.
            lock_path(self.pin_dir.name).unlink(missing_ok=True)
            return done

    def _detach(self) -> str:
        try:
            current = self.attachment()
        except BpfError:
            if self._link_exists():
                raise
            # The interface is gone, and its program with it: only the pins
            # are left to clean.
            self.bpftool.unpin_tree(self.pin_dir)
            return f"{self.ifname} no longer exists; removed its pins"
        if not self.is_loaded():
            if current is not None:
                raise BalancerError(
                    f"{self.ifname} runs XDP program id {current.prog_id}, which is not "
                    "this balancer's: not touching it"
                )
            raise BalancerError(f"no balancer on {self.ifname}")
        msg = f"no program was attached to {self.ifname}; removed its pins"
        if current is not None:
            if current.prog_id != self.prog_id():
                self.bpftool.unpin_tree(self.pin_dir)
                return (
                    f"{self.ifname} now runs another program (id {current.prog_id}); "
                    "left it alone and removed this balancer's stale pins"
                )
            self.bpftool.net_detach(current.mode, self.ifname)
            msg = f"detached from {self.ifname} ({current.mode} mode)"
        self.bpftool.unpin_tree(self.pin_dir)
        return msg

    # -- state ------------------------------------------------------------------

    def _services(
        self,
    ) -> tuple[dict[L.ServiceKey, tuple[int, L.ServiceValue]], dict[str, int]]:
        """Each service with its svc_index slot, and each VIP's marker slot."""
        index = self._read_array("svc_index")
        lives = self._read_array("svc_live")
        return svcindex.decode(index.raw, index.stride, lives.raw, lives.stride)

    def _read_array(self, name: str) -> bpfsys.ArrayDump:
        with self._reading(name):
            return bpfsys.read_array(self.map_pin(name))

    @contextlib.contextmanager
    def _reading(self, name: str) -> Iterator[None]:
        # Maps are read with BPF_MAP_LOOKUP_BATCH, not bpftool: its JSON for
        # 4096 per-CPU entries costs tens of ms of parsing per poll, and a
        # process per small map is most of what a one-backend edit costs.
        try:
            yield
        except (bpfsys.BpfSysError, OSError) as exc:
            raise BalancerError(
                f"cannot read map {name} of {self.ifname}: {exc} "
                "(was the balancer detached meanwhile?)"
            ) from None

    def _snapshot(self) -> _Snapshot:
        found, markers = self._services()
        services = {k: v for k, (_, v) in found.items()}
        slots = {k: slot for k, (slot, _) in found.items()}
        slots.update((svcindex.marker(vip), slot) for vip, slot in markers.items())
        dump = self._read_array("backends")
        entries, dests, groups = _decode_backends(dump)
        return _Snapshot(services, slots, entries, dests, groups, dump.raw, dump.cpus * dump.stride)

    def _members_of(self, snap: _Snapshot) -> tuple[Service, ...]:
        services = tuple(sorted(snap.services.items()))
        cached = _MEMBERS.get(self.pin_dir)
        if cached is not None and cached[0] == services and cached[1] == snap.raw:
            return cached[2]
        built = tuple(
            Service(
                key,
                val,
                tuple(_backend(idx, snap.dests[idx]) for idx in snap.member_slots(val)),
            )
            for key, val in services
        )
        _MEMBERS[self.pin_dir] = (services, snap.raw, built)
        return built

    def state(self) -> State:
        self.require_loaded()
        built = self._members_of(self._snapshot())
        return State(
            ifname=self.ifname,
            config=self.config(),
            attachment=self.attachment(),
            prog_id=self.prog_id(),
            services=built,
        )

    def counters(self) -> Counters:
        self.require_loaded()
        stats = self._read_array("backend_stats").summed_u64_pairs()
        backends = {i: v for i, v in enumerate(stats) if v != (0, 0)}
        reasons = {
            L.Reason(i): v
            for i, v in enumerate(self._read_array("reasons").summed_u64_pairs())
            if i in L.Reason._value2member_map_
        }
        flow_dump = self._read_array("flow_stats")
        flows = {
            L.FlowStat(i): sum(int.from_bytes(v[:8], "little") for v in values)
            for i, values in enumerate(flow_dump.values())
            if i in L.FlowStat._value2member_map_
        }
        return Counters(time.monotonic(), backends, reasons, flows)

    # -- loading backends ---------------------------------------------------------

    def load(
        self,
        services: Sequence[L.ServiceKey],
        dests: Sequence[Destination],
        mode: FillMode | None = None,
        ring_size: int | None = None,
    ) -> LoadResult:
        """Make `dests` the backend set of each service, hitlessly.

        Everything is written beside the live state (new backend entries in
        free slots, the ring in the service's idle half), and each service
        switches over with its final one-entry write, so the data plane never
        sees a half-written table.  A service keeps its fill mode and ring
        size unless new ones are given; a new one gets Maglev.
        """
        self.require_loaded()
        if not services:
            services = [L.CATCH_ALL]
        with self._writing():
            return self._load_services(services, dests, mode, ring_size)

    def _load_services(
        self,
        services: Sequence[L.ServiceKey],
        dests: Sequence[Destination],
        mode: FillMode | None,
        ring_size: int | None,
        snap: _Snapshot | None = None,
    ) -> LoadResult:
        snap = snap or self._snapshot()
        live = snap.services
        ids = self._map_ids()
        plan = _Planner(snap, self._stats_dump, ids)
        cmds: list[str] = []
        flips: list[str] = []
        used_mode = FillMode.MAGLEV
        used_size = DEFAULT_RING_SIZE
        for key in services:
            old = live.get(key)
            used_mode = mode or (_mode_of(old) if old else FillMode.MAGLEV)
            used_size = ring_size or (old.ring_size if old and old.ring_size else DEFAULT_RING_SIZE)
            _check_ring(used_mode, used_size)
            cmds_svc, flip = plan.service(key, dests, used_mode, used_size)
            cmds += cmds_svc
            flips += flip
        catch_all = any(k.is_catch_all for k in plan.final_keys())
        new_vips = {k.vip for k in services if not k.is_catch_all}
        vip_cmds = plan.vip_markers(new_vips)
        all_vips = {k.vip for k in plan.final_keys() if not k.is_catch_all}
        vip_cmds += self._vip_filter_cmds(all_vips, ids)
        self.bpftool.batch([*cmds, *vip_cmds, *flips, self._config_cmd(catch_all, ids)])
        return LoadResult(tuple(services), len(dests), used_size, catch_all, used_mode)

    def _map_ids(self) -> dict[str, int]:
        """Ids of the maps a reload writes, for its batch lines.  Resolved
        under the write lock, for each reload: attach and detach, which
        replace the maps, take the same lock."""
        ids = {}
        for name in _WRITTEN_MAPS:
            with self._reading(name):
                fd = bpfsys.obj_get(self.map_pin(name))
                try:
                    ids[name] = bpfsys.map_info(fd).map_id
                finally:
                    os.close(fd)
        return ids

    def _vip_filter_cmds(self, vips: set[str], ids: dict[str, int]) -> list[str]:
        return [
            Bpftool.update_cmd(ids["vip_filter"], L.u32(i), entry)
            for i, entry in enumerate(L.pack_vip_filter(vips))
        ]

    def _config_cmd(self, catch_all: bool, ids: dict[str, int]) -> str:
        config = self.config()
        flags = (config.flags | L.CFG_CATCH_ALL) if catch_all else (config.flags & ~L.CFG_CATCH_ALL)
        new = dataclasses.replace(config, flags=flags)
        return Bpftool.update_cmd(ids["config"], L.u32(0), new.pack())

    def members(self, key: L.ServiceKey) -> list[Destination]:
        self.require_loaded()
        return self._members_in(self._snapshot(), key)

    def _members_in(self, snap: _Snapshot, key: L.ServiceKey) -> list[Destination]:
        svc = snap.services.get(key)
        if svc is None:
            raise BalancerError(f"no service {key} on {self.ifname}")
        return [snap.dests[idx] for idx in snap.member_slots(svc)]

    def _stats_dump(self) -> bpfsys.ArrayDump:
        return self._read_array("backend_stats")

    def edit(
        self, key: L.ServiceKey, change: Callable[[list[Destination]], list[Destination]]
    ) -> list[Destination]:
        """Apply one change to a service's backend list as a hitless reload.

        Read, change and write under one lock hold, so two editors cannot
        lose each other's change.
        """
        self.require_loaded()
        with self._writing():
            # One read serves the change and the plan.
            snap = self._snapshot()
            new = change(self._members_in(snap, key))
            self._load_services([key], new, None, None, snap)
        return new

    def add_backend(self, key: L.ServiceKey, dest: Destination) -> None:
        def add(cur: list[Destination]) -> list[Destination]:
            if any(d.ip == dest.ip for d in cur):
                raise BalancerError(f"{dest.ip} is already a backend of {key}")
            return [*cur, dest]

        self.edit(key, add)

    def remove_backend(self, key: L.ServiceKey, ip: str) -> None:
        self.edit(key, lambda cur: [d for d in cur if d.ip != _find(cur, ip, key).ip])

    def set_weight(self, key: L.ServiceKey, ip: str, weight: int) -> None:
        if not 0 <= weight <= MAX_WEIGHT:
            raise BalancerError(f"weight {weight} is out of range 0-{MAX_WEIGHT}")
        self.edit(key, lambda cur: _replace(cur, _find(cur, ip, key), weight=weight))

    def set_drain(self, key: L.ServiceKey, ip: str, drained: bool) -> None:
        def change(cur: list[Destination]) -> list[Destination]:
            old = _find(cur, ip, key)
            # Undraining a weight-0 backend gives it the default weight back.
            weight = old.weight if old.weight or drained else 1
            return _replace(cur, old, drained=drained, weight=weight)

        self.edit(key, change)

    def remove_service(self, key: L.ServiceKey) -> None:
        with self._writing():
            live, markers = self._services()
            if key not in live:
                raise BalancerError(f"no service {key} on {self.ifname}")
            ids = self._map_ids()
            slot, value = live[key]
            # Out of the index first: from then on no packet finds it.
            cmds = [
                Bpftool.update_cmd(ids["svc_index"], L.u32(slot), svcindex.empty_slot()),
                Bpftool.update_cmd(ids["svc_live"], L.u32(value.svc_id), bytes(16)),
            ]
            rest = {k.vip for k in live if k != key and not k.is_catch_all}
            cmds += self._vip_filter_cmds(rest, ids)
            if key.vip in markers and key.vip not in rest:
                marker = L.u32(markers[key.vip])
                cmds.append(Bpftool.update_cmd(ids["svc_index"], marker, svcindex.empty_slot()))
            catch_all = any(k.is_catch_all for k in live if k != key)
            self.bpftool.batch([*cmds, self._config_cmd(catch_all, ids)])


def _next_gen(gen: int) -> int:
    """Generations run 1-65535 (backends keep 16 bits; 0 means no service)."""
    return gen % 0xFFFF + 1


def kernel_hz() -> int:
    """The kernel's HZ, for flow lifetimes in jiffies (the data plane's clock)."""
    for path in ("/proc/config.gz", f"/boot/config-{os.uname().release}"):
        try:
            raw = Path(path).read_bytes()
        except OSError:
            continue
        text = gzip.decompress(raw) if path.endswith(".gz") else raw
        for line in text.decode(errors="replace").splitlines():
            if line.startswith("CONFIG_HZ="):
                return int(line.split("=", 1)[1])
    return DEFAULT_HZ


def _mode_of(value: L.ServiceValue) -> FillMode:
    return FillMode.MAGLEV if value.maglev else FillMode.ROUND_ROBIN


def _check_ring(mode: FillMode, size: int) -> None:
    if not 0 < size <= L.RING_MAX_SLOTS:
        raise BalancerError(f"ring size must be 1-{L.RING_MAX_SLOTS}, not {size}")
    if mode is FillMode.MAGLEV and not is_prime(size):
        raise BalancerError(f"Maglev needs a prime ring size, not {size} (e.g. 16381)")


def _find(cur: list[Destination], ip: str, key: L.ServiceKey) -> Destination:
    for d in cur:
        if d.ip == ip:
            return d
    raise BalancerError(f"{ip} is not a backend of {key}")


def _replace(cur: list[Destination], old: Destination, **changes: object) -> list[Destination]:
    new = dataclasses.replace(old, **changes)  # type: ignore[arg-type]
    return [new if d is old else d for d in cur]


class _Planner:
    """Works out backend slots and ring writes for a reload (no I/O)."""

    def __init__(
        self,
        snap: _Snapshot,
        read_stats: Callable[[], bpfsys.ArrayDump],
        ids: dict[str, int],
    ) -> None:
        self.snap = snap
        self.ids = ids
        self.live = dict(snap.services)
        self.slots = dict(snap.slots)
        self.entries = snap.entries
        self._read_stats = read_stats
        self._stats: bpfsys.ArrayDump | None = None
        # Slots of any service's live members are never handed out, nor are
        # slots this reload releases: packets may still be on their way.
        self.taken = {idx for v in self.live.values() for idx in snap.member_slots(v)}
        self.used_ids = {v.svc_id for v in self.live.values()}

    def final_keys(self) -> list[L.ServiceKey]:
        return list(self.live)

    def _place(self, key: L.ServiceKey) -> int:
        if key not in self.slots:
            try:
                self.slots[key] = svcindex.free_slot(key, set(self.slots.values()))
            except svcindex.ServiceIndexFull as exc:
                raise BalancerError(str(exc)) from None
        return self.slots[key]

    def vip_markers(self, vips: set[str]) -> list[str]:
        """The writes of the marker slots these VIPs do not have yet."""
        new = sorted(vip for vip in vips if svcindex.marker(vip) not in self.slots)
        return [
            Bpftool.update_cmd(
                self.ids["svc_index"],
                L.u32(self._place(svcindex.marker(vip))),
                svcindex.pack_marker(vip),
            )
            for vip in new
        ]

    def _new_svc_id(self) -> int:
        # Prefer an id no removed service left backends under: flow entries
        # of a removed service then never meet a new service's backends.
        recent = {e.svc_id for e in self.entries.values()}
        free = [i for i in range(1, L.MAX_SERVICES + 1) if i not in self.used_ids]
        if not free:
            raise BalancerError(f"all {L.MAX_SERVICES} services are in use")
        choice = next((i for i in free if i not in recent), free[0])
        self.used_ids.add(choice)
        return choice

    def _free_slots(self, count: int) -> list[int]:
        free = [i for i in range(L.MAX_BACKENDS) if i not in self.taken][:count]
        if len(free) < count:
            raise BalancerError(
                f"not enough free backend slots: need {count:,}, "
                f"{L.MAX_BACKENDS - len(self.taken):,} of {L.MAX_BACKENDS:,} are free"
            )
        self.taken.update(free)
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

    def service(
        self,
        key: L.ServiceKey,
        dests: Sequence[Destination],
        mode: FillMode,
        ring_size: int,
    ) -> tuple[list[str], list[str]]:
        """The writes before the service's flip, and the flip itself (with
        whatever must follow it)."""
        old = self.live.get(key)
        if old is None:
            svc_id = self._new_svc_id()
            stale = [e.gen for e in self.entries.values() if e.svc_id == svc_id]
            gen = _next_gen(max(stale, default=0))
            half = 0
        else:
            svc_id, gen, half = old.svc_id, _next_gen(old.gen), 1 - old.live_half
        current: dict[tuple[str, str], int] = {}
        if old is not None:
            for idx in self.snap.member_slots(old):
                e = self.entries[idx]
                current[(e.ip, e.mac)] = idx
        keys = [(d.ip, d.mac) for d in dests]
        fresh = [d for d, k in zip(dests, keys, strict=True) if k not in current]
        fresh_slots = iter(self._free_slots(len(fresh)))
        indices = [current[k] if k in current else next(fresh_slots) for k in keys]
        backends_pin = self.ids["backends"]
        cmds: list[str] = []
        after_flip: list[str] = []
        changed: list[tuple[int, Destination]] | None = None
        if old is not None and not fresh and len(current) == len(dests):
            # The same members: a weight or drain change, or the same list
            # again.  Membership (and with it every flow-table entry, see
            # flow_hit) rides on the generation: keep it, and rewrite only
            # the entries that differ.  The data plane reads just ip and mac
            # of an entry, which stay, so in-place writes are invisible to it.
            was = self.snap.dests
            # An edit hands back the very objects it read for the members it
            # left alone: `is` settles most of them.
            changed = [
                (idx, d)
                for d, idx in zip(dests, indices, strict=True)
                if d is not was[idx]
                and (self.entries[idx].weight, self.entries[idx].flags) != (d.weight, _flags(d))
            ]
        if changed is not None and len(changed) <= 1 and old is not None:
            gen = old.gen
            for idx, d in changed:
                now = L.BackendEntry(d.ip, d.mac, d.weight, svc_id, gen, _flags(d))
                line = Bpftool.update_cmd(backends_pin, L.u32(idx), now.pack())
                # The entry and the flip are two writes: order them so that a
                # reload killed between them never shows a backend taking
                # less new traffic than the live ring gives it (an operator
                # may stop a server that shows drained).  The next reload
                # writes both again from what the entries say.
                (after_flip if _share(now) < _share(self.entries[idx]) else cmds).append(line)
        else:
            # New or removed members, or several entries changing: all of
            # them go in with the next generation, to change together at the
            # flip.
            cmds += [
                Bpftool.update_cmd(
                    backends_pin,
                    L.u32(idx),
                    L.BackendEntry(d.ip, d.mac, d.weight, svc_id, gen, _flags(d)).pack(),
                )
                for d, idx in zip(dests, indices, strict=True)
            ]
        stats_pin = self.ids["backend_stats"]
        fresh_set = {(d.ip, d.mac) for d in fresh}
        for d, idx in zip(dests, indices, strict=True):
            if (d.ip, d.mac) in fresh_set and self._counted(idx):
                cmds.append(Bpftool.update_cmd(stats_pin, L.u32(idx), bytes(16)))
        names = [d.ip for d in dests]
        weights = [0 if d.drained else d.weight for d in dests]  # effective_weight, inlined
        ring = fill(mode, indices, names, weights, ring_size)
        base = L.ring_base(svc_id, half)
        rings_pin = self.ids["rings"]
        for c in range(0, len(ring), L.CHUNK_SLOTS):
            chunk = L.pack_chunk(ring[c : c + L.CHUNK_SLOTS])
            cmds.append(Bpftool.update_cmd(rings_pin, L.u32(base + c // L.CHUNK_SLOTS), chunk))
        flags = L.SVC_FILL_MAGLEV if mode is FillMode.MAGLEV else 0
        value = L.ServiceValue(svc_id, base, len(ring), gen, flags)
        self.live[key] = value
        # The flip: one write of svc_live (ring and generation; see struct
        # svc_live), then a new service's index slot, so its key is found only
        # once its ring is live.
        flips = [Bpftool.update_cmd(self.ids["svc_live"], L.u32(svc_id), value.pack_live())]
        if old is None or old.flags != flags:
            slot = L.u32(self._place(key))
            flips.append(Bpftool.update_cmd(self.ids["svc_index"], slot, value.pack_slot(key)))
        return cmds, [*flips, *after_flip]


def _flags(d: Destination) -> int:
    return L.BE_DRAINING if d.drained else 0


def _share(e: L.BackendEntry) -> int:
    """The weight a backend has in its ring (0 while draining)."""
    return 0 if e.draining else e.weight
