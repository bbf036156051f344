"""The `[bgp]` table of a config (pure): the speaker that announces this
host's VIPs.  Problems come back as (key, message) for config_file to place.

    [bgp]
    asn = 65001            # this host's AS
    peer = "10.0.0.1"      # the router
    peer_asn = 65000
    source = "10.0.0.21"   # this host's address towards the router (router id)
    peer6 = "fd00::1"      # optional, with source6: the IPv6 session that
    source6 = "fd00::21"   #   announces the IPv6 VIPs
    enabled = true         # false: keep the table, announce nothing
    bfd = true
    netns = "lab-n1"       # optional: where the speaker runs
    dir = "/run/l4lb/bgp"  # optional: its config, socket and log
"""

from __future__ import annotations

import ipaddress
from typing import Any

from l4lb_tui import validation
from l4lb_tui.config_model import BgpSpec, Config

KEYS = {"asn", "peer", "peer_asn", "source", "peer6", "source6", "enabled", "bfd", "netns", "dir"}
# 4-byte AS numbers; 0 and 4294967295 are reserved (RFC 7607, RFC 7300).
ASN_MAX = 4294967294
Problems = list[tuple[str, str]]


def _asn(t: dict[str, Any], key: str, problems: Problems) -> int:
    value = t.get(key)
    if value is None:
        problems.append((f"bgp.{key}", "required: the AS number (1-4294967294)"))
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ASN_MAX:
        problems.append((f"bgp.{key}", f"must be an AS number from 1 to {ASN_MAX}"))
        return 0
    return value


def _address(t: dict[str, Any], key: str, problems: Problems, family: int = 4) -> str:
    value = t.get(key)
    kind = f"an IPv{family} address"
    if not isinstance(value, str):
        problems.append((f"bgp.{key}", f"required: {kind}"))
        return ""
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        addr = None
    if addr is None or addr.version != family:
        problems.append((f"bgp.{key}", f"{value!r} is not {kind}"))
        return ""
    if addr.is_unspecified or addr.is_multicast or addr.is_loopback:
        problems.append((f"bgp.{key}", f"{value} cannot be a BGP peer's address"))
        return ""
    # A link-local address names no link by itself: BIRD would need the interface too.
    if addr.is_link_local and family == 6:
        problems.append((f"bgp.{key}", f"{value} is link-local: give a global or ULA address"))
        return ""
    return str(addr)


def _session6(t: dict[str, Any], vips: set[str], problems: Problems) -> tuple[str, str] | None:
    """The IPv6 session's (peer6, source6): both or neither."""
    given = [k for k in ("peer6", "source6") if k in t]
    if not given:
        return None
    if len(given) == 1:
        other = "source6" if given == ["peer6"] else "peer6"
        problems.append((f"bgp.{other}", f"required with {given[0]}: the IPv6 session's two ends"))
        return None
    peer6, source6 = _address(t, "peer6", problems, 6), _address(t, "source6", problems, 6)
    if not peer6 or not source6:
        return None
    if peer6 == source6:
        problems.append(("bgp.source6", "must not be the peer's address"))
    if source6 in vips:
        problems.append(("bgp.source6", f"{source6} is a VIP: the session needs an own address"))
    return peer6, source6


def _flag(t: dict[str, Any], key: str, default: bool, problems: Problems) -> bool:
    value = t.get(key, default)
    if not isinstance(value, bool):
        problems.append((f"bgp.{key}", "must be true or false"))
        return default
    return value


def _text(t: dict[str, Any], key: str, problems: Problems) -> str | None:
    value = t.get(key)
    if value is not None and not isinstance(value, str):
        problems.append((f"bgp.{key}", "must be a string"))
        return None
    return value


# Kernel file systems: nothing the speaker writes can be made there.
_KERNEL_FS = ("proc", "sys", "dev")


def dir_problem(where: str) -> str | None:
    """Why the speaker's files could not live in `where` (None: they can,
    as far as can be said without making it)."""
    if any(c in where for c in '"\\') or not where.isprintable():
        return "cannot be written in BIRD's config: no quote, backslash or control character"
    if where.strip("/").split("/")[0] in _KERNEL_FS:
        return f"{where} is on a kernel file system: the speaker's files cannot be made there"
    return None


def parse_bgp(t: dict[str, Any], vips: set[str]) -> tuple[BgpSpec | None, Problems]:
    """The spec of an already key-checked `[bgp]` table; `vips`: every VIP
    the config serves (none may be the speaker's own address)."""
    problems: Problems = []
    asn, peer_asn = _asn(t, "asn", problems), _asn(t, "peer_asn", problems)
    peer, source = _address(t, "peer", problems), _address(t, "source", problems)
    if peer and peer == source:
        problems.append(("bgp.source", "must not be the peer's address"))
    if source and source in vips:
        problems.append(("bgp.source", f"{source} is a VIP: the session needs an own address"))
    session6 = _session6(t, vips, problems)
    enabled = _flag(t, "enabled", True, problems)
    bfd = _flag(t, "bfd", True, problems)
    netns = _text(t, "netns", problems)
    if netns is not None:
        try:
            netns = validation.netns_name(netns)
        except ValueError as exc:
            problems.append(("bgp.netns", str(exc)))
    where = _text(t, "dir", problems) or ""
    if where and not where.startswith("/"):
        problems.append(("bgp.dir", "must be an absolute path"))
    elif where and (problem := dir_problem(where)):
        problems.append(("bgp.dir", problem))
    if problems:
        return None, problems
    peer6, source6 = session6 or (None, None)
    spec = BgpSpec(asn, peer, peer_asn, source, enabled, bfd, netns, where, peer6, source6)
    return spec, problems


def announceable(spec: BgpSpec, vips: set[str] | frozenset[str]) -> set[str]:
    """The VIPs the speaker can announce: the IPv4 ones over its IPv4
    session, the IPv6 ones only if it has an IPv6 session too."""
    return {v for v in vips if spec.peer6 is not None or ipaddress.ip_address(v).version == 4}


def unannounced_line(config: Config) -> str | None:
    """One line naming the IPv6 VIPs a [bgp] config serves but never
    announces, for want of an IPv6 session (None: nothing left out).  They
    are skipped rather than failing the rest."""
    if config.bgp is None or not config.bgp.enabled:
        return None
    vips = {k.vip for b in config.balancers for s in b.services for k in s.keys}
    left = sorted(vips - announceable(config.bgp, vips), key=ipaddress.ip_address)
    if not left:
        return None
    return (
        f"bgp announces IPv6 VIPs only over an IPv6 session: {', '.join(left)} "
        "served here but not announced (set peer6 and source6 in [bgp])"
    )
