"""The balancer on one interface: what every caller (the CLI, the console,
the lab, the benchmarks) asks of it.  A façade: the work is in control/.

Everything is read back from the pinned maps, so any process (the CLI, the
console, a second console) sees the same balancer.  A Balancer holds only
what its handle does (where it is, and whether its map layouts were
checked) and a decode cache, a memo of bytes it read (decoded_backends.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from l4lb_tui import abi, backend_edits, config_checks
from l4lb_tui.bpftool import Bpftool
from l4lb_tui.control import attaching, flowtable, reading, reloading
from l4lb_tui.control.handle import Handle
from l4lb_tui.decoded_backends import DecodeCache
from l4lb_tui.destinations import Destination
from l4lb_tui.errors import BalancerError as BalancerError
from l4lb_tui.locate import Location, locate
from l4lb_tui.model import Counters, LoadResult, State
from l4lb_tui.netlink import Netlink, neighbours, validate_ifname
from l4lb_tui.reload_plan import Snapshot
from l4lb_tui.ring_fill import FillMode


class Balancer(Handle):
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
        bpftool = bpftool or Bpftool(netns=netns)
        netlink = netlink or Netlink(netns=netns)
        where = where or locate(validate_ifname(ifname), netlink, bpftool, wait)
        super().__init__(where, bpftool, netlink, wait)
        # A memo of what this balancer's reads decoded; its maker may share
        # one between the Balancers it makes (the console does).
        self.decoded = decoded or DecodeCache()

    def mtu6_warning(self, keys: Sequence[abi.ServiceKey] = ()) -> str | None:
        """The link too small for IPv6 services: those loaded or `keys`."""
        loaded = [s.key for s in self.state().services] if self.is_loaded() else []
        v6 = sum(1 for k in (*loaded, *keys) if ":" in k.vip)
        return attaching.mtu6_warning(self.ifname, self.link().mtu, v6)

    def vlan_warning(self) -> str | None:
        """What to tell an operator whose interface carries VLANs."""
        return attaching.vlan_warning(self.ifname, self.netlink.vlans_on(self.ifname))

    def attach(
        self,
        mode: str = "driver",
        saddr: str | None = None,
        warn: Callable[[str], None] | None = None,
        flows: int | None = None,
        say: Callable[[str], None] | None = None,
        saddr6: str | None = None,
        flows6: int | None = None,
    ) -> str:
        """Load (if needed), configure and attach; return what was done.

        `warn` hears, before it happens, of a switch that cannot be gapless;
        `say`, of the flow table's memory before it is allocated.  `flows`:
        the flow table's size for a new load (None: the default); a loaded
        balancer asked for another size refuses; `flows6` the same for the
        IPv6 table.  `saddr6` is the outer source of IPv6 services' ip6ip6.
        """
        if (saddr or saddr6) and self.is_loaded():
            self._refuse_own_addresses(saddr, saddr6)
        sizing = attaching.Sizing(flows, say, flows6)
        return attaching.attach(self, mode, saddr, warn, sizing, saddr6)

    def _refuse_own_addresses(self, saddr: str | None, saddr6: str | None) -> None:
        """An outer source that is one of the running services' VIPs or
        backends, as the config refuses (and `map -s` for its own load)."""
        snap = self._snapshot()
        vips = {k.vip for k in snap.services}
        backends = {d.ip for k in snap.services for d in snap.members(k) or ()}
        for flag, addr in (("-s", saddr), ("--source6", saddr6)):
            problem = config_checks.outer_source_problem(flag, addr, vips, backends)
            if problem:
                raise BalancerError(problem)

    def flow_slots(self, table: str = "flows") -> int:
        """The flow table's size (`flows6`: IPv6's), as its map was made."""
        self.require_loaded()
        return flowtable.slots(self, table)

    def detach(self) -> str:
        return attaching.detach(self)

    def attachment_problem(self) -> str | None:
        """Why this loaded balancer gets no traffic (detached or replaced
        outside l4lb), or None."""
        return attaching.attachment_problem(self)

    def state(self) -> State:
        self.require_loaded()
        return reading.state(self, self._snapshot(), self.decoded)

    def counters(self) -> Counters:
        self.require_loaded()
        return reading.counters(self)

    def members(self, key: abi.ServiceKey) -> list[Destination]:
        self.require_loaded()
        found = self._snapshot().members(key)
        if found is None:
            raise BalancerError(f"no service {key} on {self.ifname}")
        return found

    def neighbour_mac(self, ip: str, wait: float = 1.0) -> str | None:
        """`ip`'s MAC on this balancer's interface, asked of the network
        (ARP or neighbour discovery, up to `wait` s) if the table lacks it,
        from an address of the interface that is not a VIP: backends hold
        the VIPs and ignore a request from one."""
        vips = {k.vip for k in self._snapshot().services} if self.is_loaded() else set()
        link = self.link()
        own = neighbours.asking_source(link.ipv6 if ":" in ip else link.ipv4, vips)
        source, source6 = ("", own) if ":" in ip else (own, "")
        found = neighbours.resolve(
            self.netlink.netns, self.ifname, [ip], source, wait=wait, source6=source6
        )
        return found.get(ip)

    def _snapshot(self) -> Snapshot:
        """One read of the services and backends, which a change is planned on."""
        return reading.snapshot(self, self.decoded)

    def load(
        self,
        services: Sequence[abi.ServiceKey],
        dests: Sequence[Destination],
        mode: FillMode | None = None,
        ring_size: int | None = None,
        write: bool = True,
    ) -> LoadResult:
        """Make `dests` the backend set of each service, hitlessly.

        Everything is written beside the live state (new backend entries in
        free slots, the ring in the service's idle half), and each service
        switches over with its final one-entry write, so the data plane never
        sees a half-written table.  A service keeps its fill mode and ring
        size unless new ones are given; a new one gets Maglev.

        Without `write`: planned on one read, without the lock; it raises
        what the load would raise and writes nothing (`diff`, apply's check).
        """
        self.require_loaded()
        if not write:
            return reloading.load(self, self._snapshot(), services, dests, mode, ring_size, False)
        with self.writing():
            return reloading.load(self, self._snapshot(), services, dests, mode, ring_size)

    def edit(self, changes: Mapping[abi.ServiceKey, backend_edits.Change]) -> backend_edits.Done:
        """Apply changes to services' backend lists (see backend_edits) as one
        hitless step; each service's list before and after.

        Read, change and write under one lock hold, so two writers cannot
        lose each other's change; every change is made (and may refuse,
        raising EditError or SetChanged) before anything is written.
        """
        self.require_loaded()
        with self.writing():
            # One read serves the changes and the plan.
            return reloading.edit(self, self._snapshot(), changes)

    def add_backend(self, key: abi.ServiceKey, dest: Destination) -> None:
        self.edit({key: backend_edits.Add(dest)})

    def remove_backend(self, key: abi.ServiceKey, ip: str) -> None:
        self.edit({key: backend_edits.Remove(ip)})

    def set_weight(self, key: abi.ServiceKey, ip: str, weight: int) -> None:
        self.edit({key: backend_edits.SetWeight(ip, weight)})

    def set_drain(self, key: abi.ServiceKey, ip: str, drained: bool) -> None:
        self.edit({key: backend_edits.SetDrain(ip, drained)})

    def remove_service(self, key: abi.ServiceKey) -> None:
        self.edit({key: backend_edits.DropService()})
