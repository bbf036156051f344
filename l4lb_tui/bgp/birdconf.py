"""BIRD 2 configuration text for the scale-out roles (pure: text only).

Two roles.  A *node* (a balancer host) announces its VIPs as /32 static
routes to one router over eBGP and imports nothing.  A *router* (the lab's
stand-in for a top-of-rack switch) peers with every node, accepts only /32s
inside the VIP range, and installs the equal-cost routes it learns as one
Linux multipath route (`merge paths`).

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
    addr: str
    asn: int


@dataclass(frozen=True, slots=True)
class NodeConf:
    router_id: str  # also the session's local address
    asn: int
    peer: Peer
    vips: tuple[str, ...] = ()  # announced, as addresses (/32)
    bfd: Bfd | None = Bfd()
    timers: Timers = Timers()
    log: str = ""  # a file; "" logs to nowhere


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
    ipaddress.IPv4Address(peer.addr)
    return (
        f"protocol bgp {peer.name} {{\n"
        f"  local {local} as {asn};\n"
        f"  neighbor {peer.addr} as {peer.asn};\n"
        + ("  bfd on;\n" if bfd else "")
        + timers.lines()
        + f"  ipv4 {{\n{channel}  }};\n}}\n"
    )


def static_routes(vips: Iterable[str]) -> str:
    """The node's announcements: one blackhole /32 per VIP.  The node has
    no kernel protocol, so these never reach its own routing table."""
    routes = "".join(
        f"  route {ipaddress.IPv4Address(v)}/32 blackhole;\n" for v in sorted(set(vips))
    )
    return f"protocol static vips {{\n  ipv4;\n{routes}}}\n"


def render_node(conf: NodeConf) -> str:
    channel = "    import none;\n    export where source = RTS_STATIC;\n"
    parts = [
        _head(conf.router_id, conf.log),
        conf.bfd.block() if conf.bfd else "",
        static_routes(conf.vips),
        _session(conf.peer, conf.router_id, conf.asn, conf.bfd is not None, conf.timers, channel),
    ]
    return "\n".join(p for p in parts if p)


def render_router(conf: RouterConf) -> str:
    net = ipaddress.IPv4Network(conf.vip_range)
    channel = f"    import where net ~ [ {net}{{32,32}} ];\n    export none;\n"
    kernel = (
        "protocol kernel {\n  ipv4 {\n    import none;\n    export all;\n  };\n"
        f"  merge paths on limit {conf.max_paths};\n}}\n"
    )
    parts = [_head(conf.router_id, conf.log), kernel, conf.bfd.block() if conf.bfd else ""]
    parts += [
        _session(p, conf.router_id, conf.asn, conf.bfd is not None, conf.timers, channel)
        for p in conf.peers
    ]
    return "\n".join(p for p in parts if p)


def peer_names(peers: Sequence[Peer]) -> list[str]:
    return [p.name for p in peers]
