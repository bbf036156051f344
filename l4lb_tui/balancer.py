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
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from l4lb_tui import backend_edits, bpfsys, pinning, svcindex
from l4lb_tui import layout as L
from l4lb_tui.backend_table import DecodeCache
from l4lb_tui.bpf import BPFFS, STAGING_ROOT, BpfError, Bpftool
from l4lb_tui.control import modeswitch, offload
from l4lb_tui.destinations import Destination
from l4lb_tui.errors import BalancerError as BalancerError
from l4lb_tui.locate import Location, locate, no_balancer, note_name
from l4lb_tui.lock import LockedError, interface_lock, lock_path
from l4lb_tui.model import Counters, LoadResult, State, XdpAttachment
from l4lb_tui.netlink import LinkInfo, Netlink, validate_ifname
from l4lb_tui.paths import bpf_object
from l4lb_tui.reload_plan import PlanError, Planner, Snapshot
from l4lb_tui.slots import DEFAULT_RING_SIZE, FillMode, is_prime

DRIVER_OBJ = "l4lb_xdp.o"
OFFLOAD_OBJ = "l4lb_xdp_offload.o"
DEFAULT_SADDR = "10.0.0.1"
# Debian's kernels; used only when the kernel's config cannot be read.
DEFAULT_HZ = 250
MODES = ("driver", "generic", "offload")


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


class Balancer:
    """The balancer on one interface, found through its pins.

    `ifname` is resolved where the adapters work (see locate.py), unless
    `where` says already; from then on the interface is followed by its
    index, so `ifname` is its current name whatever it was renamed to.
    """

    def __init__(
        self,
        ifname: str,
        bpftool: Bpftool | None = None,
        netlink: Netlink | None = None,
        netns: str | None = None,
        wait: float = 0.0,
        where: Location | None = None,
        decoded: DecodeCache | None = None,
    ) -> None:
        self.wait = wait
        # A memo of what this balancer's reads decoded; its maker may share
        # one between the Balancers it makes (the console does).
        self.decoded = decoded or DecodeCache()
        self._layout_ok = False
        self.bpftool = bpftool or Bpftool(netns=netns)
        self.netlink = netlink or Netlink(netns=netns)
        self.where = where or locate(validate_ifname(ifname), self.netlink, self.bpftool, wait)
        self.ifname = self.where.ifname
        self.pin_dir = self.where.pin_dir
        self.prog_pin = self.pin_dir / "prog"
        self.maps_dir = self.pin_dir / "maps"

    def map_pin(self, name: str) -> Path:
        return self.maps_dir / name

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The interface's write lock, for every change to the maps or link."""
        try:
            lock = interface_lock(self.pin_dir.name, self.wait, self.ifname)
            fd = lock.__enter__()
        except LockedError as exc:
            raise BalancerError(str(exc)) from None
        except OSError as exc:
            raise BalancerError(f"cannot take the lock of {self.ifname}: {exc.strerror}") from None
        self.bpftool.keep_fds = (fd,)
        try:
            self._note_name()
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
        if not self.bpftool.bpffs_mounted():
            raise BalancerError(
                f"bpffs is not mounted at {BPFFS}, so no balancer pins are "
                "visible (inside 'ip netns exec'? use 'l4lb --netns NAME ...')"
            )
        raise BalancerError(no_balancer(self.where))

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
        version = self.config().version
        if version != L.LAYOUT_VERSION:
            raise BalancerError(
                f"the balancer on {self.ifname} was loaded by another version of l4lb "
                f"(map layout {version}, this version uses {L.LAYOUT_VERSION}): "
                f"run 'l4lb detach -i {self.ifname}' and attach again"
            )
        self._layout_ok = True

    def prog_id(self) -> int:
        return int(self.bpftool.prog_show_pinned(self.prog_pin)["id"])

    def attachment(self) -> XdpAttachment | None:
        link = self.link()
        if not link.xdp_prog_id:
            return None
        return XdpAttachment(link.ifname, link.ifindex, link.xdp_mode, link.xdp_prog_id)

    def link(self) -> LinkInfo:
        """The interface by its index: a rename is followed (and `ifname`
        is its name from now on)."""
        link = self.netlink.by_index(self.where.ident.ifindex)
        if link is None:
            raise BalancerError(
                f"interface {self.ifname} no longer exists in {self.where.netns.place}"
            )
        self.ifname = link.ifname
        return link

    def _note_name(self) -> None:
        """Keep the pins' record of the name current (how `l4lb detach -i
        NAME` finds them once the interface is gone)."""
        if self.is_loaded() and self._link_exists():
            note_name(self.where, self.ifname, self.bpftool)

    def vlan_warning(self) -> str | None:
        """What to tell an operator whose interface carries VLANs."""
        return vlan_warning(self.ifname, self.netlink.vlans_on(self.ifname))

    def _link_exists(self) -> bool:
        name = self.netlink.name_of(self.where.ident.ifindex)
        self.ifname = name or self.ifname
        return name is not None

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
            staging = STAGING_ROOT / self.pin_dir.name
            offload.refuse(self.bpftool, self._object(OFFLOAD_OBJ), self.ifname, staging)
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
            pinning.write_record(self.bpftool, self.pin_dir, self.where.record(link.ifname))
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
            ttl=tuple(L.FLOW_TTL.get(L.FlowState(i), 0) * hz for i in range(len(L.FlowState))),
        )
        self.bpftool.map_update(self.map_pin("config"), L.u32(0), new.pack())

    def detach(self) -> str:
        with self._writing():
            done = self._detach()
            # Unlinked while held: see interface_lock.
            lock_path(self.pin_dir.name).unlink(missing_ok=True)
            return done

    def _detach(self) -> str:
        if not self._link_exists():
            # The interface is gone, and its program with it: only the pins
            # are left to clean.
            self.bpftool.unpin_tree(self.pin_dir)
            return f"{self.ifname} no longer exists in {self.where.netns.place}; removed its pins"
        current = self.attachment()
        if not self.is_loaded():
            if current is not None:
                raise BalancerError(
                    f"{self.ifname} runs XDP program id {current.prog_id}, which is not "
                    "this balancer's: not touching it"
                )
            raise BalancerError(no_balancer(self.where))
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
        self, orphans: list[int] | None = None
    ) -> tuple[dict[L.ServiceKey, tuple[int, L.ServiceValue]], dict[str, int]]:
        """Each service with its svc_index slot, and each VIP's marker slot
        (and, into `orphans`, live ids no slot names)."""
        index = self._read_array("svc_index")
        lives = self._read_array("svc_live")
        found = svcindex.decode(index.raw, index.stride, lives.raw, lives.stride)
        if orphans is not None:
            used = {v.svc_id for _, v in found[0].values()}
            orphans += svcindex.orphans(lives.raw, lives.stride, used)
        return found

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

    def _snapshot(self) -> Snapshot:
        orphans: list[int] = []
        found, markers = self._services(orphans)
        services = {k: v for k, (_, v) in found.items()}
        slots = {k: slot for k, (slot, _) in found.items()}
        slots.update((svcindex.marker(vip), slot) for vip, slot in markers.items())
        table = self.decoded.table(self._read_array("backends"))
        return Snapshot(services, slots, table, tuple(orphans))

    def state(self) -> State:
        self.require_loaded()
        snap = self._snapshot()
        built = self.decoded.services(self.pin_dir, snap.services, snap.table)
        attachment = self.attachment()  # first: it follows a rename
        return State(
            ifname=self.ifname,
            config=self.config(),
            attachment=attachment,
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
        # A service named twice is one service, reloaded once: a second
        # reload in the same batch would flip it to a half the first one's
        # flows do not know yet.
        services = list(dict.fromkeys(services)) or [L.CATCH_ALL]
        with self._writing():
            catch_all, used_mode, used_size = self._load_services(
                [(key, dests) for key in services], mode, ring_size, self._snapshot()
            )
        return LoadResult(tuple(services), len(dests), used_size, catch_all, used_mode)

    def _load_services(
        self,
        lists: Sequence[tuple[L.ServiceKey, Sequence[Destination]]],
        mode: FillMode | None,
        ring_size: int | None,
        snap: Snapshot,
    ) -> tuple[bool, FillMode, int]:
        """Each service's new list, in one batch; catch-all, fill and ring size used."""
        live = snap.services
        ids = self._map_ids()
        plan = Planner(snap, self._stats_dump, ids)
        cmds: list[str] = []
        flips: list[str] = []
        used_mode = FillMode.MAGLEV
        used_size = DEFAULT_RING_SIZE
        for key, dests in lists:
            old = live.get(key)
            used_mode = mode or (_mode_of(old) if old else FillMode.MAGLEV)
            used_size = ring_size or (old.ring_size if old and old.ring_size else DEFAULT_RING_SIZE)
            _check_ring(used_mode, used_size)
            try:
                cmds_svc, flip = plan.service(key, dests, used_mode, used_size)
            except PlanError as exc:
                raise BalancerError(str(exc)) from None
            cmds += cmds_svc
            flips += flip
        catch_all = any(k.is_catch_all for k in plan.final_keys())
        new_vips = {k.vip for k, _ in lists if not k.is_catch_all}
        all_vips = {k.vip for k in plan.final_keys() if not k.is_catch_all}
        vip_cmds = self._vip_filter_cmds(all_vips, ids)
        try:
            vip_cmds += plan.vip_markers(new_vips)
        except PlanError as exc:
            raise BalancerError(str(exc)) from None
        cleanup = plan.stale_markers()
        config = self._config_cmd(catch_all, ids)
        self.bpftool.batch([*plan.orphan_lines(), *cmds, *vip_cmds, *flips, config, *cleanup])
        return catch_all, used_mode, used_size

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
        found = self._snapshot().members(key)
        if found is None:
            raise BalancerError(f"no service {key} on {self.ifname}")
        return found

    def _stats_dump(self) -> bpfsys.ArrayDump:
        return self._read_array("backend_stats")

    def edit(self, changes: Mapping[L.ServiceKey, backend_edits.Change]) -> backend_edits.Done:
        """Apply changes to services' backend lists (see backend_edits) as one
        hitless step; each service's list before and after.

        Read, change and write under one lock hold, so two writers cannot
        lose each other's change; every change is made (and may refuse,
        raising EditError or SetChanged) before anything is written.
        """
        self.require_loaded()
        with self._writing():
            # One read serves the changes and the plan.
            snap = self._snapshot()
            done = backend_edits.apply_all(changes, lambda key: _listed(snap.members(key)))
            lists = [(key, after) for key, (_, after) in done.items() if after is not None]
            if lists:
                self._load_services(lists, None, None, snap)
            for key, (before, after) in done.items():
                if after is None and before is not None:
                    self._remove_service(key)
        return done

    def add_backend(self, key: L.ServiceKey, dest: Destination) -> None:
        self.edit({key: backend_edits.Add(dest)})

    def remove_backend(self, key: L.ServiceKey, ip: str) -> None:
        self.edit({key: backend_edits.Remove(ip)})

    def set_weight(self, key: L.ServiceKey, ip: str, weight: int) -> None:
        self.edit({key: backend_edits.SetWeight(ip, weight)})

    def set_drain(self, key: L.ServiceKey, ip: str, drained: bool) -> None:
        self.edit({key: backend_edits.SetDrain(ip, drained)})

    def remove_service(self, key: L.ServiceKey) -> None:
        self.edit({key: backend_edits.DropService()})

    def _remove_service(self, key: L.ServiceKey) -> None:
        orphans: list[int] = []
        live, markers = self._services(orphans)
        if key not in live:
            raise BalancerError(f"no service {key} on {self.ifname}")
        ids = self._map_ids()
        slot, value = live[key]
        # Out of the index first: from then on no packet finds it (and what
        # an earlier removal killed half-way left live goes with it).
        cmds = [
            *(Bpftool.update_cmd(ids["svc_live"], L.u32(i), bytes(16)) for i in orphans),
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


def vlan_warning(ifname: str, vlans: Sequence[str]) -> str | None:
    """Many NICs strip a VLAN tag before XDP runs, and the program cannot see
    it: say so when the interface carries VLAN sub-interfaces."""
    if not vlans:
        return None
    shown = ", ".join(vlans[:3]) + (f" and {len(vlans) - 3} more" if len(vlans) > 3 else "")
    return (
        f"{ifname} carries VLAN sub-interfaces ({shown}): if the NIC strips their "
        "tags, their traffic to a VIP is balanced as untagged; "
        f"'ethtool -K {ifname} rxvlan off' keeps tags in the frame, where the "
        "balancer passes them to the kernel"
    )


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


def _listed(found: list[Destination] | None) -> backend_edits.Members | None:
    return None if found is None else tuple(found)
