"""How a balancer's health checks reach its backends, and from which address.

Through the probe tunnel (to the VIP, as clients' traffic goes) where the
config gives the balancer a probe source of the service's family
(`probe_source`, `probe_source6`) and the kernel lets the tunnel be opened;
at the backend's own address otherwise.  One tunnel per namespace carries
both families: one program, one mark space, one owner of the rules.  Never
from the VIP: the backends hold the VIP themselves (DSR), so their answers
to it stay with them, every healthy backend would fail and a broken one
could pass.  An address probe goes from the probe source of its family if
there is one on this host, else from an address of the balancer's interface
that is not a VIP.

A reload changes the tunnel in place: a family added or removed leaves the
other's rule and route as they were (its probes in flight never meet the
host's own stack), a reload that changes nothing touches nothing, and a
family that cannot be opened (its source not on the host) waits for the
repair timer, which makes it once it can, and a new plan moves its
services into it.  A probe in flight while a reload took its family's
tunnel down on purpose (an interface change, a family removed) is no
verdict on its backend.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from l4lb_tui.config_model import BalancerSpec, ServiceSpec
from l4lb_tui.health.adapters.tunnel import REMADE, ProbeTunnel, TunnelError
from l4lb_tui.netlink import Netlink, NetlinkError

Report = Callable[[str], None]
CANNOT_OPEN = "the probe tunnel cannot be opened"
GAPS_KEPT = 900.0  # seconds a tunnel's gap is remembered after it is made again


@dataclass(frozen=True, slots=True)
class Route:
    """Where one balancer's probes go."""

    marks: Mapping[str, int]  # the tunnel's mark per backend, of both families; {}: no tunnel
    tunnel_source: str  # the tunnel's IPv4 source ("": IPv4 backends are not tunnelled)
    address_source: str  # where address probes are sent from ("": none found)
    no_tunnel: str  # why address probes, for IPv4 services that wanted the tunnel
    # The same for IPv6 backends ("" address source: the kernel's choice).
    address_source6: str = ""
    tunnel_source6: str = ""
    no_tunnel6: str = ""

    def through(self, spec: ServiceSpec) -> bool:
        """Whether the service's checks go through the tunnel."""
        if spec.health is None or spec.health.target == "address":
            return False
        return bool(self.tunnel_source6 if _v6(spec) else self.tunnel_source)

    def source_for(self, ip: str, tunnel: bool) -> str:
        if ":" in ip:
            return self.tunnel_source6 if tunnel else self.address_source6
        return self.tunnel_source if tunnel else self.address_source

    def describe(self, spec: ServiceSpec, through_tunnel: bool) -> str:
        """Which target a service's checks use, in the journal's words."""
        v6 = _v6(spec)
        if through_tunnel:
            source = self.tunnel_source6 if v6 else self.tunnel_source
            return f"health checks go through the probe tunnel to the VIP, from {source}"
        if spec.health and spec.health.target == "address":
            why = "target = address"
        else:
            why = self.no_tunnel6 if v6 else self.no_tunnel
        source = (
            self.address_source6 if v6 else self.address_source
        ) or "the kernel's choice (no address of the interface that is not a VIP)"
        return f"health checks go to the backends' own addresses ({why}), from {source}"


@dataclass
class Routes:
    report: Report
    tunnels: dict[str | None, ProbeTunnel] = field(default_factory=dict)
    planned: set[str | None] = field(default_factory=set)  # tunnels given out this round
    # Per namespace, the interface whose tunnel this configuration keeps.
    holders: dict[str | None, str] = field(default_factory=dict)
    gone: set[str | None] = field(default_factory=set)  # tunnels said to be gone
    # Per namespace, the families the last plan found made (a repair that
    # makes another one asks for a new plan: `repair()`).
    given: dict[str | None, tuple[int, ...]] = field(default_factory=dict)
    # Per (namespace, family), when its tunnel was last down (taken down on
    # purpose, or found flushed by the kernel) and made again (inf: not
    # yet), on the monotonic clock: a tunnel probe in flight then is no
    # verdict on its backend (`remade()`).
    gaps: dict[tuple[str | None, int], tuple[float, float]] = field(default_factory=dict)
    balancers: tuple[BalancerSpec, ...] = ()  # the configuration's, as `begin` got them
    swept: set[str | None] = field(default_factory=set)  # namespaces cleared of leftovers
    # Per namespace, when its tunnel's routes were last seen all there.
    seen: dict[str | None, float] = field(default_factory=dict)

    def begin(self, balancers: Sequence[BalancerSpec] = ()) -> None:
        """A new configuration of `balancers`: a tunnel stays with its
        interface while that still wants one (a reload that only reorders
        the file moves nothing); the rest are free to be planned again."""
        self.planned = set()
        self.balancers = tuple(balancers)
        self.holders = {
            netns: t.interface
            for netns, t in self.tunnels.items()
            if any(
                b.netns == netns and b.interface == t.interface and _wants_tunnel(b)
                for b in balancers
            )
        }

    def plan(self, bal: BalancerSpec) -> Route:
        wants = [s for s in bal.services if s.health and s.health.target != "address"]
        sources: list[str | None] = [None, None]  # (IPv4, IPv6): the tunnel's, once open
        whys = ["", ""]
        for i, (key, source) in enumerate(
            (("probe_source", bal.probe_source), ("probe_source6", bal.probe_source6))
        ):
            if any(_v6(s) == bool(i) for s in wants):
                sources[i] = source
                whys[i] = "" if source else f"no {key}: the tunnel needs one"
        if any(sources):
            self._open(bal, sources, whys)
        tunnel = self.tunnels.get(bal.netns) if any(sources) else None
        marks: Mapping[str, int] = {}
        if tunnel is not None:
            ips = {b.ip for s in wants for b in s.backends if sources[":" in b.ip]}
            try:
                marks = tunnel.set_backends(sorted(ips)) if ips else {}
            except TunnelError as exc:
                why = f"the probe tunnel refused its backends: {exc}"
                whys = [why if src else w for src, w in zip(sources, whys, strict=True)]
                sources = [None, None]
        address, address6 = _address_sources(bal)
        return Route(marks, sources[0] or "", address, whys[0], address6, sources[1] or "", whys[1])

    def _open(self, bal: BalancerSpec, sources: list[str | None], whys: list[str]) -> None:
        """Open (or change in place) the namespace's tunnel for the families
        `sources` names.  A family it cannot be opened for (its source not on
        the host, say) is left out, its reason in `whys`, and the other keeps
        its tunnel as it was."""
        tunnel = self.tunnels.get(bal.netns)
        holder = self.holders.get(bal.netns)
        if holder is None and tunnel is not None and bal.netns in self.planned:
            holder = tunnel.interface
        if holder is not None and holder != bal.interface:
            why = f"one probe tunnel per namespace, and {holder} has it"
            whys[:] = [why if src else w for src, w in zip(sources, whys, strict=True)]
            sources[:] = [None, None]
            return
        self.planned.add(bal.netns)
        if tunnel is not None and tunnel.interface != bal.interface:
            self._close(bal.netns)
            tunnel = None
        failed = self._change(bal, tunnel, sources[0], sources[1])
        for family, why in failed.items():
            i = 0 if family == 4 else 1
            sources[i], whys[i] = None, f"{CANNOT_OPEN}: {why}"

    def _change(
        self, bal: BalancerSpec, tunnel: ProbeTunnel | None, source: str | None, source6: str | None
    ) -> dict[int, str]:
        """Make the namespace's tunnel probe from these sources: a new one,
        or the one there changed in place; why not, per family."""
        before = tunnel.made if tunnel is not None else ()
        start = time.monotonic()
        try:
            if tunnel is None:
                new = ProbeTunnel(bal.interface, source, source6=source6, netns=bal.netns)
                failed, tunnel = new.open_partly(), new
            else:
                failed = tunnel.change(source, source6)
        except TunnelError as exc:
            failed = {f: str(exc) for f, s in ((4, source), (6, source6)) if s}
        # Kept even with no family made: the repair timer makes them once it can.
        if tunnel is not None:
            self.tunnels[bal.netns] = tunnel
        self.given[bal.netns] = after = tunnel.made if tunnel is not None else ()
        self._gaps(bal.netns, before, after, start)
        self.seen[bal.netns] = time.monotonic()
        return failed

    def _gaps(
        self, netns: str | None, before: tuple[int, ...], after: tuple[int, ...], start: float
    ) -> None:
        for family in before:
            if family not in after:
                self.gaps[(netns, family)] = (start, math.inf)
        for family in after:
            since, until = self.gaps.get((netns, family), (0.0, 0.0))
            if until == math.inf:
                self.gaps[(netns, family)] = (since, time.monotonic())

    def remade(self, netns: str | None, backend: str, started: float, took: float) -> bool:
        """Whether a tunnel probe to `backend` that started at `started` and
        took `took` seconds was in flight while its family's tunnel was
        down (a reload, or a route the kernel flushed): then its failure
        says nothing of the backend."""
        gap = self.gaps.get((netns, 6 if ":" in backend else 4))
        return gap is not None and started < gap[1] and started + took >= gap[0]

    def repair(self) -> bool:
        """Make again every tunnel whose route the kernel flushed (a link
        down and up, or moved out and back): until then every probe through
        it reaches this host's own stack and fails.  Also a family whose
        source was not on the host until now.  Whether a family was made
        that the last plan could not give out: then plan again."""
        # No probe lasts longer than its timeout (600 s at most).
        old = time.monotonic() - GAPS_KEPT
        self.gaps = {k: gap for k, gap in self.gaps.items() if gap[1] > old}
        grown = False
        for netns, tunnel in self.tunnels.items():
            now = time.monotonic()
            try:
                if said := tunnel.repair():
                    flushed = said.startswith(REMADE)
                    why = (
                        " was gone (its route was flushed: the link went down or moved):"
                        if flushed
                        else ":"
                    )
                    self.report(f"the probe tunnel on {tunnel.interface}{why} {said}")
                self.gone.discard(netns)
            except TunnelError as exc:
                if netns not in self.gone:  # once, not every look
                    self.report(f"the probe tunnel on {tunnel.interface} is gone: {exc}")
                self.gone.add(netns)
            self._flushed(netns, tunnel, now)
            grown |= bool(set(tunnel.made) - set(self.given.get(netns, ())))
        return grown

    def _flushed(self, netns: str | None, tunnel: ProbeTunnel, now: float) -> None:
        """A route the kernel flushed went some time after the last look
        that found it: a gap from then until it is made again."""
        for family in tunnel.flushed:
            if self.gaps.get((netns, family), (0.0, 0.0))[1] != math.inf:
                self.gaps[(netns, family)] = (self.seen.get(netns, now), math.inf)
        self._gaps(netns, (), tunnel.made, now)
        if not tunnel.flushed:
            self.seen[netns] = now

    def finish(self) -> None:
        """Close the tunnels of namespaces whose balancers no longer want one
        (after every balancer's `plan`), and undo once what a killed prober
        left in the namespace of a balancer that has none."""
        for netns in set(self.tunnels) - self.planned:
            self._close(netns)
            self.report(
                f"closed the probe tunnel of {netns or 'the host namespace'}: not needed now"
            )
        for bal in self.balancers:
            if bal.netns in self.tunnels or bal.netns in self.swept:
                continue
            self.swept.add(bal.netns)
            where = bal.netns or "the host namespace"
            try:
                if ProbeTunnel.sweep(bal.interface, bal.netns):
                    self.report(f"undid the probe tunnel a killed daemon left in {where}")
            except TunnelError:
                # Its namespace not there yet, say (the apply says so): next time.
                self.swept.discard(bal.netns)

    def _close(self, netns: str | None) -> None:
        tunnel = self.tunnels.pop(netns, None)
        self.given.pop(netns, None)
        if tunnel is not None:
            made, start = tunnel.made, time.monotonic()
            with contextlib.suppress(TunnelError):
                tunnel.close()
            self._gaps(netns, made, (), start)

    def stop(self) -> None:
        for netns in list(self.tunnels):
            self._close(netns)


def _wants_tunnel(bal: BalancerSpec) -> bool:
    return any(
        (bal.probe_source6 if _v6(s) else bal.probe_source) is not None
        for s in bal.services
        if s.health and s.health.target != "address"
    )


def _v6(spec: ServiceSpec) -> bool:
    return any(":" in key.vip for key in spec.keys)


def _address_sources(bal: BalancerSpec) -> tuple[str, str]:
    """Where address probes go from, per family: the probe source where it
    is an address of this host (one that is not cannot send; an IPv6 one,
    of the balancer's interface), else an
    address of the balancer's interface that is not one of its VIPs ("":
    none found, the kernel's choice)."""
    vips = {ipaddress.ip_address(key.vip) for s in bal.services for key in s.keys}
    try:
        links = Netlink(bal.netns).links()
    except NetlinkError:
        return bal.probe_source or "", bal.probe_source6 or ""
    own = next((link for link in links if link.ifname == bal.interface), None)
    found = []
    for source, ipv6 in ((bal.probe_source, False), (bal.probe_source6, True)):
        addrs = () if own is None else own.ipv6 if ipv6 else own.ipv4
        # IPv6 answers find only an address of the link they come by
        # (neighbour discovery); IPv4's ARP answers for any of the host's.
        here = {_ip(a) for a in addrs} if ipv6 else {_ip(a) for li in links for a in li.ipv4}
        if source and ipaddress.ip_address(source) in here:
            found.append(source)
        else:
            found.append(next((str(_ip(a)) for a in addrs if _ip(a) not in vips), ""))
    return found[0], found[1]


def _ip(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(addr.split("/")[0])
