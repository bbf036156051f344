"""BIRD 2 configuration text for the scale-out roles (pure: text only).

Two roles.  A *node* (a balancer host) announces its VIPs as /32 static
routes to one router over eBGP and imports nothing.  A *router* (the lab's
stand-in for a top-of-rack switch) peers with every node, accepts only /32s
inside the VIP range, and installs the equal-cost routes it learns as one
Linux multipath route (`merge paths`).

IPv6 VIPs (/128s) go over a second session between the two ends' IPv6
addresses, with an ipv6 channel only: each family's session is carried,
and watched by BFD, over that family's own forwarding path, and the next
hop a router installs is the address the session came from, as for IPv4.

Both ends run BFD, so a node that dies is noticed in a few hundred
milliseconds rather than after the BGP hold time, and graceful restart is
off: a node whose speaker dies must stop being routed to, not be kept as a
stale path for two minutes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# A protocol name in BIRD: a letter, then letters, digits and underscores
# (and never one of BIRD's keywords: every name here gets a prefix).
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,30}$")


@dataclass(frozen=True, slots=True)
class Bfd:
    """BFD timers: a dead peer is declared after interval x multiplier."""

    interval_ms: int = 100
    multiplier: int = 4

    def block(self) -> str:
        return (
            f'protocol bfd {{\n  interface "*" {{\n'
            f"    min rx interval {self.interval_ms} ms;\n"
            f"    min tx interval {self.interval_ms} ms;\n"
            f"    multiplier {self.multiplier};\n  }};\n}}\n"
        )


@dataclass(frozen=True, slots=True)
class Timers:
    """BGP session timers, short so that a lab (re)connects in about a second."""

    hold: int = 6
    connect_retry: int = 1
    connect_delay: int = 1

    def lines(self) -> str:
        return (
            f"  hold time {self.hold};\n"
            f"  connect retry time {self.connect_retry};\n"
            f"  connect delay time {self.connect_delay};\n"
            "  error wait time 1, 4;\n"
            "  graceful restart off;\n"
            "  long lived graceful restart off;\n"
        )


@dataclass(frozen=True, slots=True)
class Peer:
    name: str  # the protocol's name in BIRD (and in `show protocols`)
    addr: str  # IPv4 or IPv6: the session's family, and its channel's
    asn: int


@dataclass(frozen=True, slots=True)
class NodeConf:
    router_id: str  # also the IPv4 session's local address
    asn: int
    peer: Peer
    vips: tuple[str, ...] = ()  # announced, as addresses (/32, and /128 over peer6)
    bfd: Bfd | None = Bfd()
    timers: Timers = Timers()
    log: str = ""  # a file; "" logs to nowhere
    peer6: Peer | None = None  # the IPv6 session's router (None: no IPv6 VIP announced)
    local6: str = ""  # this node's address of that session


@dataclass(frozen=True, slots=True)
class RouterConf:
    router_id: str
    asn: int
    peers: tuple[Peer, ...]
    vip_range: str  # only /32s inside it are accepted
    bfd: Bfd | None = Bfd()
    timers: Timers = Timers()
    log: str = ""
    max_paths: int = 16  # next hops one multipath route may hold
    peers6: tuple[Peer, ...] = ()  # IPv6 sessions, from local6 (one per node)
    local6: str = ""
    vip_range6: str = ""  # only /128s inside it are accepted from peers6


def check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"bad BIRD protocol name {name!r}")
    return name


def _quoted(path: str) -> str:
    if '"' in path or "\n" in path:
        raise ValueError(f"path {path!r} cannot be quoted for BIRD")
    return f'"{path}"'


def _head(router_id: str, log: str) -> str:
    ipaddress.IPv4Address(router_id)
    # Dates in full: birdshow parses one format, whatever the day.
    lines = [
        f"router id {router_id};",
        "timeformat protocol iso long;",
        "timeformat route iso long;",
    ]
    if log:
        lines.append(f"log {_quoted(log)} all;")
    # Interfaces are looked at only for BFD and next hops; a slow scan is enough.
    lines.append("protocol device {\n  scan time 10;\n}")
    return "\n".join(lines) + "\n"


def _session(peer: Peer, local: str, asn: int, bfd: bool, timers: Timers, channel: str) -> str:
    check_name(peer.name)
    family = ipaddress.ip_address(peer.addr).version
    if ipaddress.ip_address(local).version != family:
        raise ValueError(f"session {peer.name}: {local} and {peer.addr} are of two families")
    return (
        f"protocol bgp {peer.name} {{\n"
        f"  local {local} as {asn};\n"
        f"  neighbor {peer.addr} as {peer.asn};\n"
        + ("  bfd on;\n" if bfd else "")
        + timers.lines()
        + f"  ipv{family} {{\n{channel}  }};\n}}\n"
    )


def static_routes(vips: Iterable[str], family: int = 4) -> str:
    """The node's announcements of one family: one blackhole /32 (/128) per
    VIP.  The node has no kernel protocol, so these never reach its own
    routing table."""
    found = sorted(
        {ipaddress.ip_address(v) for v in vips if ipaddress.ip_address(v).version == family}
    )
    bits = 32 if family == 4 else 128
    routes = "".join(f"  route {v}/{bits} blackhole;\n" for v in found)
    name = "vips" if family == 4 else "vips6"
    return f"protocol static {name} {{\n  ipv{family};\n{routes}}}\n"


def render_node(conf: NodeConf) -> str:
    """ValueError for an IPv6 VIP without an IPv6 session to carry it."""
    v6 = [v for v in conf.vips if ipaddress.ip_address(v).version == 6]
    if v6 and conf.peer6 is None:
        raise ValueError(f"{', '.join(sorted(v6))}: no IPv6 session to announce them over")
    channel = "    import none;\n    export where source = RTS_STATIC;\n"
    bfd = conf.bfd is not None
    parts = [
        _head(conf.router_id, conf.log),
        conf.bfd.block() if conf.bfd else "",
        static_routes(conf.vips),
        _session(conf.peer, conf.router_id, conf.asn, bfd, conf.timers, channel),
    ]
    if conf.peer6 is not None:
        parts += [
            static_routes(conf.vips, 6),
            _session(conf.peer6, conf.local6, conf.asn, bfd, conf.timers, channel),
        ]
    return "\n".join(p for p in parts if p)


def _kernel(family: int, max_paths: int) -> str:
    return (
        f"protocol kernel kernel{family} {{\n  ipv{family} {{\n    import none;\n"
        f"    export all;\n  }};\n  merge paths on limit {max_paths};\n}}\n"
    )


def render_router(conf: RouterConf) -> str:
    net = ipaddress.IPv4Network(conf.vip_range)
    channel = f"    import where net ~ [ {net}{{32,32}} ];\n    export none;\n"
    bfd = conf.bfd is not None
    parts = [_head(conf.router_id, conf.log), _kernel(4, conf.max_paths)]
    parts += [conf.bfd.block() if conf.bfd else ""]
    parts += [_session(p, conf.router_id, conf.asn, bfd, conf.timers, channel) for p in conf.peers]
    if conf.peers6:
        net6 = ipaddress.IPv6Network(conf.vip_range6)
        channel6 = f"    import where net ~ [ {net6}{{128,128}} ];\n    export none;\n"
        parts.append(_kernel(6, conf.max_paths))
        parts += [
            _session(p, conf.local6, conf.asn, bfd, conf.timers, channel6) for p in conf.peers6
        ]
    return "\n".join(p for p in parts if p)


def peer_names(peers: Sequence[Peer]) -> list[str]:
    return [p.name for p in peers]
