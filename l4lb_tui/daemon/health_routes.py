"""How a balancer's health checks reach its backends, and from which address.

Through the probe tunnel (to the VIP, as clients' traffic goes) where the
config gives the balancer a probe source of the service's family
(`probe_source`, `probe_source6`) and the kernel lets the tunnel be opened;
at the backend's own address otherwise.  One tunnel per namespace carries
both families: one program, one mark space, one owner of the rules.  Never
from the VIP: the backends hold the VIP themselves (DSR), so their answers
to it stay with them, every healthy backend would fail and a broken one
could pass.  An address probe goes from the probe source of its family if
there is one, else from an address of the balancer's interface that is not
a VIP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from l4lb_tui.config_model import BalancerSpec, ServiceSpec
from l4lb_tui.health.adapters.tunnel import ProbeTunnel, TunnelError
from l4lb_tui.netlink import Netlink, NetlinkError

Report = Callable[[str], None]
CANNOT_OPEN = "the probe tunnel cannot be opened"


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

    def begin(self, balancers: Sequence[BalancerSpec] = ()) -> None:
        """A new configuration of `balancers`: a tunnel stays with its
        interface while that still wants one (a reload that only reorders
        the file moves nothing); the rest are free to be planned again."""
        self.planned = set()
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
                marks = tunnel.set_backends(sorted(ips))
            except TunnelError as exc:
                why = f"the probe tunnel refused its backends: {exc}"
                whys = [why if src else w for src, w in zip(sources, whys, strict=True)]
                sources = [None, None]
        return Route(
            marks,
            sources[0] or "",
            bal.probe_source or _not_a_vip(bal),
            whys[0],
            bal.probe_source6 or _not_a_vip(bal, ipv6=True),
            sources[1] or "",
            whys[1],
        )

    def _open(self, bal: BalancerSpec, sources: list[str | None], whys: list[str]) -> None:
        """Open (or keep) the tunnel for the families `sources` names.  A
        family it cannot be opened for (its source not on the host, say)
        is left out, its reason in `whys`, and the other keeps its tunnel."""
        why = self._plan(bal, *sources)
        if why and all(sources) and why.startswith(CANNOT_OPEN):
            for i in (0, 1):
                if not self._plan(bal, *(s if j == i else None for j, s in enumerate(sources))):
                    sources[1 - i], whys[1 - i] = None, why
                    return
        if why:
            whys[:] = [why if src else w for src, w in zip(sources, whys, strict=True)]
            sources[:] = [None, None]

    def _plan(self, bal: BalancerSpec, source: str | None, source6: str | None) -> str:
        """Open (or keep) the namespace's tunnel for `bal`; why not ("": it is open)."""
        tunnel = self.tunnels.get(bal.netns)
        holder = self.holders.get(bal.netns)
        if holder is None and tunnel is not None and bal.netns in self.planned:
            holder = tunnel.interface
        if holder is not None and holder != bal.interface:
            return f"one probe tunnel per namespace, and {holder} has it"
        self.planned.add(bal.netns)
        if tunnel is None or (tunnel.interface, tunnel.source, tunnel.source6) != (
            bal.interface,
            source,
            source6,
        ):
            self._close(bal.netns)
            tunnel = ProbeTunnel(bal.interface, source, source6=source6, netns=bal.netns)
            try:
                tunnel.open()
            except TunnelError as exc:
                return f"{CANNOT_OPEN}: {exc}"
            self.tunnels[bal.netns] = tunnel
        return ""

    def repair(self) -> None:
        """Make again every tunnel whose route the kernel flushed (a link
        down and up, or moved out and back): until then every probe through
        it reaches this host's own stack and fails."""
        for netns, tunnel in self.tunnels.items():
            try:
                if said := tunnel.repair():
                    self.report(
                        f"the probe tunnel on {tunnel.interface} was gone (its route was "
                        f"flushed: the link went down or moved): {said}"
                    )
                self.gone.discard(netns)
            except TunnelError as exc:
                if netns not in self.gone:  # once, not every look
                    self.report(f"the probe tunnel on {tunnel.interface} is gone: {exc}")
                self.gone.add(netns)

    def keep_only(self, used: set[str | None]) -> None:
        """Close the tunnels of namespaces whose balancers no longer need one."""
        for netns in set(self.tunnels) - used:
            self._close(netns)
            self.report(
                f"closed the probe tunnel of {netns or 'the host namespace'}: not needed now"
            )

    def _close(self, netns: str | None) -> None:
        tunnel = self.tunnels.pop(netns, None)
        if tunnel is not None:
            with contextlib.suppress(TunnelError):
                tunnel.close()

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


def _not_a_vip(bal: BalancerSpec, ipv6: bool = False) -> str:
    """An address (IPv4, or IPv6) of the balancer's interface that is not one of its VIPs."""
    vips = {key.vip for s in bal.services for key in s.keys}
    try:
        link = Netlink(bal.netns).link(bal.interface)
        addrs = link.ipv6 if ipv6 else link.ipv4
    except NetlinkError:
        return ""
    for addr in addrs:
        ip = addr.split("/")[0]
        if ip not in vips:
            return ip
    return ""
