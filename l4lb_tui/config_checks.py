"""Checks a config needs beyond each value's own: whatever the daemon would
refuse or trip over later (a health check it cannot build, a metrics address
it cannot serve) is refused here, so `l4lb check` says it first (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

from l4lb_tui.abi import CATCH_ALL, PROTO_UDP
from l4lb_tui.config_model import HealthSpec, ServiceSpec

# (key below the service, message)
Found = list[tuple[str, str]]
# The balancer's own addresses a backend must not be: each with what to say.
Own = dict[str, str]
# A UDP datagram's most payload over IPv4, less the probe tunnel's outer
# header: a longer send could never leave (EMSGSIZE on every probe).  Over
# IPv6 it comes to the same: 65,535 - 8 (UDP) - 40 (the outer header's).
UDP_PROBE_MAX = 65507 - 20


def health_problems(s: ServiceSpec, h: HealthSpec) -> Found:
    """What makes `h` unusable as the check of `s`."""
    out: Found = []
    if any(k == CATCH_ALL for k in s.keys):
        out.append(("health", 'a catch-all service ("*") has no backends of its own to check'))
        return out
    if not h.port and any(k.port == 0 for k in s.keys):
        out.append(("health.port", "a service on every port needs the port its check probes"))
    udp = any(k.proto == PROTO_UDP for k in s.keys)
    tcp = any(k.proto != PROTO_UDP for k in s.keys)
    if h.check in ("tcp", "http") and not tcp:
        out.append(("health.check", f"a {h.check} check cannot probe a UDP service"))
    if h.check == "udp" and not udp:
        out.append(("health.check", "a udp check cannot probe a TCP service"))
    if h.check == "udp":
        for key, text in (("send", h.send), ("expect", h.expect)):
            if (size := len(text.encode())) > UDP_PROBE_MAX:
                out.append(
                    (f"health.{key}", f"is {size:,} bytes: a UDP probe holds {UDP_PROBE_MAX:,}")
                )
    if h.check == "http":
        if not h.path.startswith("/"):
            out.append(("health.path", f"{h.path!r} must start with /"))
        if any(c in h.path for c in "\r\n\t ") or not h.path.isprintable():
            out.append(("health.path", "must be one URL path: no spaces or control characters"))
    return out


def health_key_problems(check: str, written: set[str]) -> Found:
    """Keys written that the kind of check never reads."""
    only = {"path": "http", "status": "http", "body": "http", "send": "udp", "expect": "udp"}
    return [
        (f"health.{key}", f"is for {kind} checks, not {check}")
        for key, kind in sorted(only.items())
        if key in written and kind != check
    ]


def listen_problem(listen: str) -> str:
    """Why the daemon could not serve metrics at `listen` ("" if it can)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return f"{listen!r} must be ADDRESS:PORT with a port from 1 to 65535"
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"{host!r} is not an IP address (write 127.0.0.1:{port} or [::1]:{port})"
    return ""


def source_problems(
    source: str | None,
    probe: str | None,
    services: list[ServiceSpec],
    probe6: str | None = None,
    source6: str | None = None,
) -> Found:
    """The balancer's own addresses (source, source6, probe_source, probe_source6)
    that are one of its VIPs, which the CLI's -s refuses too; and a check
    that asks for the tunnel where the balancer has no probe source of the
    service's family ("" for the key: the balancer's).  A backend that is
    one of them is the backend's problem (config_file names its line)."""
    vips = {k.vip for s in services for k in s.keys}
    out: Found = []
    for key, addr, vip_why in (
        ("source", source, "the tunnel's outer source must not be"),
        ("source6", source6, "the tunnel's outer source must not be"),
        ("probe_source", probe, "backends keep answers to it"),
        ("probe_source6", probe6, "backends keep answers to it"),
    ):
        if addr and addr in vips:
            out.append((key, f"{addr} is a VIP: {vip_why}"))
    tunnelled = [s for s in services if s.health and s.health.target == "tunnel"]
    if probe is None and any(not _v6(s) for s in tunnelled):
        out.append(("", 'a check with target = "tunnel" needs the balancer\'s probe_source'))
    if probe6 is None and any(_v6(s) for s in tunnelled):
        out.append(
            (
                "",
                'a check with target = "tunnel" on an IPv6 service needs the balancer\'s '
                "probe_source6",
            )
        )
    return out


def own_addresses(given: dict[str, tuple[str | None, int]]) -> Own:
    """What a backend equal to one of the balancer's own addresses (given:
    each key's address and line) is told, as `backend add` tells it, naming
    the key and its line: the backend, the edit, is what the operator
    changed, not the key."""
    what = {"source": "outer source", "source6": "outer source", "probe_source": "probe source"}
    own: Own = {}
    for key, (addr, line) in given.items():
        if addr and addr not in own:
            own[addr] = (
                f"{addr} is the balancer's {what.get(key, 'probe source')} ({key}, line {line}), "
                "its own address: it cannot be a backend"
            )
    return own


def _v6(s: ServiceSpec) -> bool:
    return any(":" in k.vip for k in s.keys)


def outer_source_problem(
    flag: str, addr: str | None, vips: Collection[str], backends: Collection[str]
) -> str | None:
    """Why `addr`, given as the running balancer's outer source (`flag`:
    how the operator gave it), cannot be: one of its VIPs or backends
    would take the tunnel's ICMP errors."""
    if addr and addr in vips:
        return f"{flag} {addr} is a VIP of this balancer: the outer source must be the host's own"
    if addr and addr in backends:
        return (
            f"{flag} {addr} is a backend of this balancer: the outer source must be the host's own"
        )
    return None
