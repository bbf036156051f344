"""What `birdc` prints, parsed (pure): protocols and their state, routes
and their next hops.  birdc prints a banner ("BIRD 2.0.12 ready.") first;
every parser skips it."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Protocol:
    name: str
    proto: str  # BGP, BFD, Static, Kernel, Device
    state: str  # up, down, start, flush
    info: str  # for BGP: Established, Active, Connect, ... and the last error

    @property
    def established(self) -> bool:
        return self.proto == "BGP" and self.info.startswith("Established")


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str
    source: str  # the protocol it came from
    best: bool
    via: tuple[str, ...]  # next hops


_BANNER = re.compile(r"^BIRD [0-9.]+ ready\.$")
# name proto table state since [info...]; "since" is a date and a time, as
# the configs of birdconf ask ("timeformat protocol iso long").
_PROTO = re.compile(
    r"^(?P<name>\S+)\s+(?P<proto>\S+)\s+(?P<table>\S+)\s+(?P<state>up|down|start|flush)\s+"
    r"(?P<since>\S+ \S+)\s*(?P<info>.*)$"
)
# A prefix of either family: IPv4 dotted, or IPv6 (hex digits and colons).
_ROUTE = re.compile(
    r"^(?P<prefix>(?:\d+\.\d+\.\d+\.\d+|[0-9a-fA-F:]*:[0-9a-fA-F:]*)/\d+)?\s+"
    r"(?P<kind>unicast|blackhole|unreachable|prohibited)"
    r"\s+\[(?P<source>\S+)[^\]]*\](?P<best>\s+\*)?"
)
_VIA = re.compile(r"^\s+via (?P<addr>\d+\.\d+\.\d+\.\d+|[0-9a-fA-F:]*:[0-9a-fA-F:]*)")


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not _BANNER.match(line)]


def protocols(text: str) -> list[Protocol]:
    """`show protocols`: one Protocol per line after the header."""
    out = []
    for line in _lines(text):
        if line.startswith("Name "):
            continue
        m = _PROTO.match(line)
        if m:
            info = m.group("info").strip()
            out.append(Protocol(m.group("name"), m.group("proto"), m.group("state"), info))
    return out


def routes(text: str) -> list[Route]:
    """`show route` (all or `export NAME`): each route with its next hops.

    A line without a prefix is another route for the prefix above it.
    """
    out: list[Route] = []
    prefix = ""
    for line in _lines(text):
        if line.startswith("Table "):
            continue
        m = _ROUTE.match(line)
        if m:
            prefix = m.group("prefix") or prefix
            out.append(Route(prefix, m.group("source"), bool(m.group("best")), ()))
            continue
        v = _VIA.match(line)
        if v and out:
            last = out[-1]
            out[-1] = Route(last.prefix, last.source, last.best, (*last.via, v.group("addr")))
    return out
