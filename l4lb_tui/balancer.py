"""The balancer's control plane: attach, load backends, read state and counters.

It composes the two adapters (bpftool and netlink) and holds no state of its
own: everything is read back from the pinned maps, so any process (the CLI,
the console, a second console) sees the same balancer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from l4lb_tui import bpfsys
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
        self._members: tuple[_ServiceEntries, tuple[Service, ...]] | None = None

    def map_pin(self, name: str) -> Path:
        return self.maps_dir / name

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The interface's write lock, for every change to the maps or link."""
        try:
            lock = interface_lock(self.pin_dir.name, self.wait)
            lock.__enter__()
        except LockedError as exc:
            raise BalancerError(str(exc)) from None
        except OSError as exc:
            raise BalancerError(f"cannot take the lock of {self.ifname}: {exc.strerror}") from None
        try:
            yield
        finally:
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
            info = self.bpftool.map_show_pinned(self.map_pin(name))
            if int(info.get("bytes_value", -1)) != size:
                raise BalancerError(
                    f"the balancer on {self.ifname} was loaded by another version of l4lb "
                    f"(map {name} holds {info.get('bytes_value')}-byte values, this version "
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

    def attach(self, mode: str = "driver", saddr: str | None = None) -> str:
        """Load (if needed), configure and attach; return what was done."""
        with self._writing():
            return self._attach(mode, saddr)

    def _attach(self, mode: str, saddr: str | None) -> str:
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
            # Native and generic XDP cannot be attached together; switch with
            # the shortest gap the kernel allows, and put the old mode back if
            # the new one is refused.
            self.bpftool.net_detach(current.mode, self.ifname)
            try:
                self.bpftool.net_attach(mode, self.prog_pin, self.ifname)
            except BpfError:
                self.bpftool.net_attach(current.mode, self.prog_pin, self.ifname)
                raise
            return f"switched {self.ifname} from {current.mode} to {mode} mode"
        try:
            self.bpftool.net_attach(mode, self.prog_pin, self.ifname)
        except BpfError:
            if not loaded:
                self.bpftool.unpin_tree(self.pin_dir)
            raise
        return f"attached to {self.ifname} in {mode} mode"

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
        raw = self.bpftool.map_lookup(self.map_pin("config"), L.u32(0))
        if raw is None:
            raise BalancerError(f"config map of {self.ifname} is unreadable")
        return L.Config.unpack(raw)

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

    def _services(self) -> dict[L.ServiceKey, L.ServiceValue]:
        return {
            L.ServiceKey.unpack(e.key): L.ServiceValue.unpack(e.value)
            for e in self.bpftool.map_dump(self.map_pin("services"))
        }

    def _read_array(self, name: str) -> bpfsys.ArrayDump:
        # Large arrays are read with BPF_MAP_LOOKUP_BATCH: bpftool's JSON for
        # 4096 per-CPU entries costs tens of ms of parsing per poll.
        try:
            return bpfsys.read_array(self.map_pin(name))
        except (bpfsys.BpfSysError, OSError) as exc:
            raise BalancerError(
                f"cannot read map {name} of {self.ifname}: {exc} "
                "(was the balancer detached meanwhile?)"
            ) from None

    def _backends(self) -> dict[int, L.BackendEntry]:
        out = {}
        for idx, values in enumerate(self._read_array("backends").values()):
            if values[0][:4] != bytes(4):
                out[idx] = L.BackendEntry.unpack(values[0])
        return out

    def state(self) -> State:
        self.require_loaded()
        services = tuple(sorted(self._services().items()))
        # Every change of members, weights or drain is a reload, and a reload
        # flips its service entry to a new generation: the same service
        # entries mean the same members, without decoding 4096 backends again.
        if self._members is not None and self._members[0] == services:
            built = self._members[1]
        else:
            entries = sorted(self._backends().items())
            built = tuple(
                Service(
                    key,
                    val,
                    tuple(
                        Backend(idx, e.ip, e.mac, e.weight, e.draining)
                        for idx, e in entries
                        if e.is_member_of(val)
                    ),
                )
                for key, val in services
            )
            self._members = (services, built)
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
    ) -> LoadResult:
        live = self._services()
        plan = _Planner(live, self._backends())
        cmds: list[str] = []
        flips: list[str] = []
        used_mode = FillMode.MAGLEV
        used_size = DEFAULT_RING_SIZE
        for key in services:
            old = live.get(key)
            used_mode = mode or (_mode_of(old) if old else FillMode.MAGLEV)
            used_size = ring_size or (old.ring_size if old and old.ring_size else DEFAULT_RING_SIZE)
            _check_ring(used_mode, used_size)
            cmds_svc, flip = plan.service(self, key, dests, used_mode, used_size)
            cmds += cmds_svc
            flips += flip
        catch_all = any(k.is_catch_all for k in plan.final_keys())
        new_vips = {k.vip for k in services if not k.is_catch_all}
        vip_cmds = [
            Bpftool.update_cmd(self.map_pin("vips"), L.ip_bytes(vip), L.u32(1))
            for vip in sorted(new_vips)
        ]
        all_vips = {k.vip for k in plan.final_keys() if not k.is_catch_all}
        vip_cmds += self._vip_filter_cmds(all_vips)
        self.bpftool.batch([*cmds, *vip_cmds, *flips, self._config_cmd(catch_all)])
        return LoadResult(tuple(services), len(dests), used_size, catch_all, used_mode)

    def _vip_filter_cmds(self, vips: set[str]) -> list[str]:
        pin = self.map_pin("vip_filter")
        return [
            Bpftool.update_cmd(pin, L.u32(i), entry)
            for i, entry in enumerate(L.pack_vip_filter(vips))
        ]

    def _config_cmd(self, catch_all: bool) -> str:
        config = self.config()
        flags = (config.flags | L.CFG_CATCH_ALL) if catch_all else (config.flags & ~L.CFG_CATCH_ALL)
        new = dataclasses.replace(config, flags=flags)
        return Bpftool.update_cmd(self.map_pin("config"), L.u32(0), new.pack())

    def members(self, key: L.ServiceKey) -> list[Destination]:
        for svc in self.state().services:
            if svc.key == key:
                return [b.destination() for b in svc.backends]
        raise BalancerError(f"no service {key} on {self.ifname}")

    def edit(
        self, key: L.ServiceKey, change: Callable[[list[Destination]], list[Destination]]
    ) -> list[Destination]:
        """Apply one change to a service's backend list as a hitless reload.

        Read, change and write under one lock hold, so two editors cannot
        lose each other's change.
        """
        with self._writing():
            new = change(self.members(key))
            self._load_services([key], new, None, None)
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
            live = self._services()
            if key not in live:
                raise BalancerError(f"no service {key} on {self.ifname}")
            cmds = [
                Bpftool.delete_cmd(self.map_pin("services"), key.pack()),
                Bpftool.update_cmd(self.map_pin("svc_gen"), L.u32(live[key].svc_id), L.u32(0)),
            ]
            rest = {k.vip for k in live if k != key and not k.is_catch_all}
            cmds += self._vip_filter_cmds(rest)
            if not key.is_catch_all and key.vip not in rest:
                cmds.append(Bpftool.delete_cmd(self.map_pin("vips"), L.ip_bytes(key.vip)))
            catch_all = any(k.is_catch_all for k in live if k != key)
            self.bpftool.batch([*cmds, self._config_cmd(catch_all)])


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
        self, live: dict[L.ServiceKey, L.ServiceValue], entries: dict[int, L.BackendEntry]
    ) -> None:
        self.live = dict(live)
        self.entries = entries
        live_ids = {v.svc_id: v for v in live.values()}
        # Slots of any service's live members are never handed out, nor are
        # slots this reload releases: packets may still be on their way.
        self.taken = {
            idx
            for idx, e in entries.items()
            if e.svc_id in live_ids and e.is_member_of(live_ids[e.svc_id])
        }
        self.used_ids = set(live_ids)

    def final_keys(self) -> list[L.ServiceKey]:
        return list(self.live)

    def _new_svc_id(self) -> int:
        # Prefer an id no removed service left backends under: flow entries
        # of a removed service then never meet a new service's backends.
        recent = {e.svc_id for e in self.entries.values()}
        free = [i for i in range(L.MAX_SERVICES) if i not in self.used_ids]
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

    def service(
        self,
        bal: Balancer,
        key: L.ServiceKey,
        dests: Sequence[Destination],
        mode: FillMode,
        ring_size: int,
    ) -> tuple[list[str], list[str]]:
        old = self.live.get(key)
        if old is None:
            svc_id = self._new_svc_id()
            stale = [e.gen for e in self.entries.values() if e.svc_id == svc_id]
            gen = _next_gen(max(stale, default=0))
            half = 0
        else:
            svc_id, gen, half = old.svc_id, _next_gen(old.gen), 1 - old.live_half
        current = {
            (e.ip, e.mac): idx
            for idx, e in self.entries.items()
            if old is not None and e.is_member_of(old)
        }
        fresh = [d for d in dests if (d.ip, d.mac) not in current]
        fresh_slots = iter(self._free_slots(len(fresh)))
        indices = [
            current[(d.ip, d.mac)] if (d.ip, d.mac) in current else next(fresh_slots) for d in dests
        ]
        cmds: list[str] = []
        backends_pin = bal.map_pin("backends")
        stats_pin = bal.map_pin("backend_stats")
        for d, idx in zip(dests, indices, strict=True):
            flags = L.BE_DRAINING if d.drained else 0
            entry = L.BackendEntry(d.ip, d.mac, d.weight, svc_id, gen, flags)
            cmds.append(Bpftool.update_cmd(backends_pin, L.u32(idx), entry.pack()))
            if (d.ip, d.mac) not in current:
                cmds.append(Bpftool.update_cmd(stats_pin, L.u32(idx), bytes(16)))
        names = [d.ip for d in dests]
        ring = fill(mode, indices, names, [d.effective_weight for d in dests], ring_size)
        base = L.ring_base(svc_id, half)
        rings_pin = bal.map_pin("rings")
        for c in range(0, len(ring), L.CHUNK_SLOTS):
            chunk = L.pack_chunk(ring[c : c + L.CHUNK_SLOTS])
            cmds.append(Bpftool.update_cmd(rings_pin, L.u32(base + c // L.CHUNK_SLOTS), chunk))
        flags = L.SVC_FILL_MAGLEV if mode is FillMode.MAGLEV else 0
        value = L.ServiceValue(svc_id, base, len(ring), gen, flags)
        self.live[key] = value
        flip = Bpftool.update_cmd(bal.map_pin("services"), key.pack(), value.pack())
        # The flow table's fast path validates against svc_gen: update it with
        # the flip (see flow_hit in l4lb_xdp.c for why either order is safe).
        gen_cmd = Bpftool.update_cmd(bal.map_pin("svc_gen"), L.u32(svc_id), L.u32(gen))
        return cmds, [flip, gen_cmd]
