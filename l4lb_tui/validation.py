"""Operator input, checked in one place: addresses, ports, weights, names,
seconds, ring sizes and the limits a load must fit.  Pure logic: text in, a
canonical value out, or a one-line ValueError an operator can act on.  The
CLI (argparse types), `check`, the console's forms and the destinations
parser all call these: what one accepts the others accept, in the same words.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from l4lb_tui import abi
from l4lb_tui.ring_fill import is_prime

T = TypeVar("T")

MAX_WEIGHT = 65535
MAX_PORT = 65535
# Quoted input is cut here: a 4 MiB line must not come back as a 4 MiB error.
SHOWN_CHARS = 40

# ASCII only: str.isdigit() and int() also take '\uff13' (a full-width 3) and
# the like, and isdigit() takes '\xb3' (a superscript 3), which int() then
# refuses in its own words.
_DIGITS = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_MAC = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(?:\1[0-9a-fA-F]{2}){4}")
# What the kernel refuses in a name (dev_valid_name): '/', ':', NUL and the
# bytes its isspace() takes (\t\n\v\f\r, space and 0xa0).  Every other
# name of 1-15 bytes (IFNAMSIZ is 16 with the NUL) but '.' and '..' is one an
# `ip link set ... name` may give, so one an operator may have to type.
_IFNAME_REFUSED = frozenset(b"/:\0\t\n\v\f\r \xa0")
IFNAME_MAX = 15
# A netns name is a file name under /run/netns: `ip netns add` takes any
# but these (and so must we, or a link moved there cannot be managed).
NETNS_NAME_MAX = 255  # NAME_MAX


def shown(text: str) -> str:
    """`text` quoted for a message: escaped as Python does, and cut short.

    Cut by its quoted length too: an escape takes up to ten characters
    ('\\U0002ebe1'), so SHOWN_CHARS of them would fill a line.
    """
    cut = text[:SHOWN_CHARS]
    if len(cut) == len(text) and len(repr(cut)) <= 2 * SHOWN_CHARS:
        return repr(cut)
    while len(repr(cut)) > 2 * SHOWN_CHARS:
        cut = cut[:-1]
    return f"{cut!r}... ({len(text):,} characters)"


# -- numbers ------------------------------------------------------------------


def whole_number(text: str, what: str, low: int, high: int) -> int:
    """An integer written in ASCII digits, within [low, high]."""
    raw = text.strip()
    if not _DIGITS.fullmatch(raw):
        if not raw:
            raise ValueError(f"{what} is empty: give a whole number from {low} to {high}")
        raise ValueError(f"{what} {shown(raw)} is not a whole number from {low} to {high}")
    digits = raw.lstrip("0") or "0"
    # Compared by length first: int() of a million digits is refused (and slow).
    if len(digits) > len(str(high)) or not low <= int(digits) <= high:
        raise ValueError(f"{what} {shown(digits)[1:-1]} is out of range {low}-{high}")
    return int(digits)


def seconds(text: str, what: str, low: float, high: float) -> float:
    """A plain decimal number of seconds within [low, high]: no sign, exponent,
    nan or inf, which float() would take."""
    raw = text.strip()
    if not _DECIMAL.fullmatch(raw):
        raise ValueError(f"{what} {shown(raw)} is not a number of seconds from {low:g} to {high:g}")
    value = float(raw)
    if not low <= value <= high:
        raise ValueError(f"{what} {raw} is out of range: {low:g} to {high:g} seconds")
    return value


def weight(text: str) -> int:
    return whole_number(text, "weight", 0, MAX_WEIGHT)


def port(text: str) -> int:
    return whole_number(text, "port", 0, MAX_PORT)


# -- addresses ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Role:
    """What an address is for: how messages name it, and whether a
    link-local address may serve (on one link it can)."""

    noun: str
    link_local: bool
    v4_too: bool = True  # an IPv4 address may take its place (not so for --source6)


# A link-local backend is refused: 169.254/16 is what a host takes when DHCP
# gave it nothing, so in a destinations file it is a mistake far more often
# than a server, and neither the balancer's routed source nor its health
# probes from beyond the link would reach it.
BACKEND = Role("a backend", link_local=False)
VIP = Role("a VIP", link_local=False)  # clients beyond a router could not reach it
SOURCE = Role("the outer source address", link_local=True)
# ip6ip6 from fe80:: is not routable beyond the link (no answer comes back).
SOURCE6 = Role("the outer IPv6 source address", link_local=False, v4_too=False)
# The backends answer a probe's source: one they cannot route to gets nothing.
PROBE6 = Role("a probe source (the backends must be able to answer it)", False, v4_too=False)


def address_kind(raw: bytes) -> str | None:
    """What a non-unicast (or not routable) IPv4 address is; None for unicast."""
    first = raw[0]
    if raw == bytes(4):
        return "the unspecified address"
    if first == 0:
        return "a 'this network' (0.0.0.0/8) address"
    if first == 127:
        return "a loopback address"
    if 224 <= first <= 239:
        return "a multicast address"
    if raw == b"\xff\xff\xff\xff":
        return "the broadcast address"
    if first >= 240:
        return "a reserved (class E) address"
    if raw[:2] == b"\xa9\xfe":
        return "a link-local address"
    return None


def ipv4(text: str, role: Role) -> str:
    """The canonical dotted quad of a unicast IPv4 address fit for `role`."""
    raw_text = text.strip()
    try:
        # Exactly the canonical dotted quad (no leading zeros, no short forms),
        # and much cheaper than ipaddress for a 4096-line file.
        raw = socket.inet_pton(socket.AF_INET, raw_text)
    except (OSError, ValueError):  # ValueError: an embedded NUL
        raise ValueError(f"{shown(raw_text)} is not an IPv4 address") from None
    kind = address_kind(raw)
    if kind and not (role.link_local and kind == "a link-local address"):
        raise ValueError(f"{raw_text} is {kind}, which cannot be {role.noun}")
    return raw_text


def address_kind6(addr: ipaddress.IPv6Address) -> str | None:
    """What a non-unicast (or not routable) IPv6 address is; None for unicast."""
    if addr.is_unspecified:
        return "the unspecified address"
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_multicast:
        return "a multicast address"
    if addr.ipv4_mapped is not None:
        return "an IPv4-mapped address"
    if addr.is_link_local:
        return "a link-local address"
    return None


def ipv6(text: str, role: Role) -> str:
    """The canonical (compressed) text of a unicast IPv6 address fit for `role`."""
    raw_text = text.strip()
    try:
        if "%" in raw_text:  # a zone index: means nothing in a map
            raise ValueError
        addr = ipaddress.IPv6Address(raw_text)
    except ValueError:
        raise ValueError(f"{shown(raw_text)} is not an IPv6 address") from None
    kind = address_kind6(addr)
    if kind and not (role.link_local and kind == "a link-local address"):
        hint = " (write the IPv4 address itself)" if addr.ipv4_mapped and role.v4_too else ""
        raise ValueError(f"{raw_text} is {kind}, which cannot be {role.noun}{hint}")
    return addr.compressed


def ip_address(text: str, role: Role) -> str:
    """An IPv4 or (with a colon) an IPv6 address fit for `role`."""
    if ":" not in text and not re.fullmatch(r"[0-9.]*", text.strip()):  # of no family
        raise ValueError(f"{shown(text.strip())} is not an IP address (IPv4 or IPv6)")
    return ipv6(text, role) if ":" in text else ipv4(text, role)


def family_problem(vips: Iterable[str], ips: Iterable[str]) -> str | None:
    """Why these backends cannot serve services at these VIPs, or None: a
    service's backends are of its own family (no tunnel crosses families)."""
    listed = list(ips)
    for vip in vips:
        v6 = ":" in vip
        if (other := next((ip for ip in listed if (":" in ip) != v6), None)) is not None:
            fam, its = ("IPv6", "IPv4") if v6 else ("IPv4", "IPv6")
            svc = "the catch-all service (no --vip)" if vip == abi.CATCH_ALL.vip else f"VIP {vip}"
            return (
                f"{svc} is {fam} and backend {other} is {its}: a service's backends "
                f"must be {fam} ({its} in {fam} is not built)"
            )
    return None


def own_address_problem(ip: str, link_addrs: Sequence[str], ifname: str) -> str | None:
    """Why a backend cannot be `ip` on a balancer whose link has these
    addresses ("ADDR/PREFIX"), or None: frames for the balancer's own address
    or its subnet's broadcast would never reach a server."""
    for text in link_addrs:
        try:
            net = ipaddress.ip_interface(text)
        except ValueError:
            continue
        if net.ip == _address_or_none(ip):
            return f"{ip} is an address of {ifname}, the balancer's own: it cannot be a backend"
        if (
            net.version == 4
            and net.network.prefixlen < 31
            and str(net.network.broadcast_address) == ip
        ):
            return (
                f"{ip} is the broadcast address of {ifname}'s subnet {net.network}: "
                "it cannot be a backend"
            )
    return None


def _address_or_none(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def backend_ip(text: str) -> str:
    return ip_address(text, BACKEND)


def vip_address(text: str) -> str:
    return ip_address(text, VIP)


def source_address(text: str) -> str:
    """-s: one argument, taken as typed (a space there is a quoting slip)."""
    if text != text.strip():
        raise ValueError(f"{shown(text)} is not an IPv4 address (white space around it)")
    return ipv4(text, SOURCE)


def source6_address(text: str) -> str:
    """--source6: the outer source of ip6ip6, an IPv6 address taken as typed."""
    if text != text.strip():
        raise ValueError(f"{shown(text)} is not an IPv6 address (white space around it)")
    return ipv6(text, SOURCE6)


def probe_source6_address(text: str) -> str:
    """probe_source6: this host's address for IPv6 health probes, bare."""
    bare = text.strip().removeprefix("[").removesuffix("]").split("/")[0]
    if bare != text:
        raise ValueError(f"{shown(text)} is not an IPv6 address: write it bare ({shown(bare)})")
    return ipv6(text, PROBE6)


def mac(text: str) -> str:
    """A backend's MAC in lower-case colon form: unicast and not all zeros."""
    raw = text.strip()
    if not _MAC.fullmatch(raw):
        raise ValueError(f"{shown(raw)} is not a MAC address (expected aa:bb:cc:dd:ee:ff)")
    found = raw.replace("-", ":").lower()
    if found == "ff:ff:ff:ff:ff:ff":
        raise ValueError(f"{found} is the broadcast MAC, not a backend")
    if int(found[:2], 16) & 1:
        raise ValueError(f"{found} is a multicast MAC, not a backend")
    if found == "00:00:00:00:00:00":
        raise ValueError(f"{found} is the all-zero MAC, not a backend")
    return found


# -- names ----------------------------------------------------------------------


def ifname(text: str) -> str:
    """An interface name as the kernel takes it (as argv does, a name that
    is not UTF-8 is kept by its bytes)."""
    try:
        raw = text.encode(errors="surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate argv cannot have made
        raw = b""
    if not 0 < len(raw) <= IFNAME_MAX or text in {".", ".."} or _IFNAME_REFUSED & set(raw):
        hint = " (empty: an unset variable?)" if not text else ""
        raise ValueError(f"{shown(text)} is not a valid interface name{hint}")
    return text


def config_mac(text: str) -> str:
    """A config's backend MAC, whose other word is "neighbour" (so said when
    it is neither: "neighbor" or "Neighbour" are not it)."""
    raw = text.strip()
    if _MAC.fullmatch(raw):
        return mac(raw)
    raise ValueError(f'{shown(raw)} is not a MAC address (aa:bb:cc:dd:ee:ff) nor "neighbour"')


def netns_name(text: str) -> str:
    """A name `ip netns add` accepts: 1-255 bytes, no '/', not '.' or '..'."""
    try:
        size = len(text.encode(errors="surrogateescape"))
    except UnicodeEncodeError:
        size = 0
    if not 0 < size <= NETNS_NAME_MAX or "/" in text or "\0" in text or text in {".", ".."}:
        hint = " (empty: an unset variable?)" if not text else ""
        raise ValueError(f"{shown(text)} is not a valid network namespace name{hint}")
    return text


def file_name(text: str) -> str:
    """A file name as given; empty is refused, not taken as "." (a directory)."""
    if not text:
        raise ValueError("the file name is empty (an unset variable?)")
    return text


def run_directory(text: str) -> str:
    """A daemon's run directory (its L4LB_RUN_DIR): absolute, as a service
    has no working directory anyone could rely on."""
    if not text.startswith("/") or "\0" in text:
        raise ValueError(f"{shown(text)} is not an absolute directory path")
    return text


# -- what a load must fit ---------------------------------------------------------


def ring_size(text: str) -> int:
    return whole_number(text, "ring size", 1, abi.RING_MAX_SLOTS)


def ring_problem(size: int, maglev: bool, serving: int) -> str | None:
    """Why a ring of `size` slots cannot serve `serving` backends that take
    traffic (weight above 0), or None."""
    if not 1 <= size <= abi.RING_MAX_SLOTS:
        return f"ring size must be 1-{abi.RING_MAX_SLOTS}, not {size}"
    if maglev and not is_prime(size):
        return (
            f"Maglev needs a prime ring size, not {size} (e.g. 16381); "
            "--fill roundrobin takes any size"
        )
    if size < serving:
        return (
            f"a ring of {size:,} slots is smaller than the {serving:,} backends that take "
            f"traffic: {serving - size:,} of them would get none (use at least {serving:,} slots)"
        )
    return None


def capacity_problem(destinations: int, services: int, limit: int = abi.MAX_BACKENDS) -> str | None:
    """Why `destinations` backends in each of `services` services do not fit
    `limit` backend slots, or None: every service holds its own copy of its
    backends."""
    if services > abi.MAX_SERVICES:
        return f"{services:,} services, but the balancer holds at most {abi.MAX_SERVICES:,}"
    need = destinations * services
    if need <= limit:
        return None
    if services == 1:
        return f"{destinations:,} destinations, but the balancer holds at most {limit:,}"
    return (
        f"{destinations:,} destinations in {services} services need {need:,} backend "
        f"slots, but the balancer holds at most {limit:,} in all"
    )


def argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """`parse` as an argparse type: its message becomes argparse's, which
    otherwise would say only "invalid value"."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def seconds_argument(what: str, low: float, high: float) -> Callable[[str], float]:
    return argument(functools.partial(seconds, what=what, low=low, high=high))


def count_argument(what: str, low: int, high: int) -> Callable[[str], int]:
    return argument(functools.partial(whole_number, what=what, low=low, high=high))
