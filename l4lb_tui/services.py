"""Service specifications, `ADDR[:PORT][/tcp|udp]`: parsed one by one, merged
from a list (each service once), and written back from a service key."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from l4lb_tui import validation
from l4lb_tui.abi import CATCH_ALL, PROTO_NAMES, PROTO_TCP, PROTO_UDP, ServiceKey

_PROTOS = {"tcp": (PROTO_TCP,), "udp": (PROTO_UDP,), "": (PROTO_TCP, PROTO_UDP)}
# Every port on the VIP; asked for with ':0' or ':*', or by giving no port.
_ANY_PORT = "*"


def parse_service(spec: str) -> list[ServiceKey]:
    """One spec gives one service per protocol; no protocol means TCP and UDP.

    Raises ValueError with an operator-readable message.
    """
    text = spec.strip()
    quoted = validation.shown(text)
    addr_port, slash, proto = text.partition("/")
    proto = proto.lower()
    if slash and not proto:
        # '10.0.0.4:80/' is most likely a protocol lost to an empty variable:
        # taking it as both would balance the one not meant too.
        raise ValueError(
            f"service {quoted}: the protocol after '/' is empty (write /tcp or /udp, "
            "or leave out the '/' for both)"
        )
    if proto not in _PROTOS:
        raise ValueError(
            f"service {quoted}: protocol must be tcp or udp, not {validation.shown(proto)}"
        )
    addr, colon, port_text = _address_and_port(addr_port, quoted, slash + proto)
    if any(c.isspace() for c in addr_port):
        raise ValueError(f"service {quoted}: no spaces inside a service (as 10.0.0.4:80/tcp)")
    try:
        vip = validation.vip_address(addr)
    except ValueError as exc:
        raise ValueError(f"service {quoted}: {exc}") from None
    port = 0
    if colon and port_text != _ANY_PORT:
        if not port_text:
            shown_addr = f"[{addr}]" if ":" in addr else addr
            # '10.0.0.4:' is most likely a port lost to an empty variable:
            # taking it as every port would balance SSH too.
            raise ValueError(
                f"service {quoted}: the port is empty (for every port, write "
                f"{shown_addr}:0 or {shown_addr}:*, or leave out the colon)"
            )
        try:
            port = validation.port(port_text)
        except ValueError:
            raise ValueError(f"service {quoted}: port must be 0-65535 (0 = any)") from None
        if port_text.strip() != str(port):
            # '080': a leading zero reads as octal to some tools, and is
            # surely a typing slip.
            raise ValueError(f"service {quoted}: write the port as {port}, without leading zeros")
    return [ServiceKey(vip, port, p) for p in _PROTOS[proto]]


def _address_and_port(text: str, quoted: str, suffix: str = "") -> tuple[str, str, str]:
    """ADDR[:PORT], the address of an IPv6 one in brackets: [2001:db8::4]:80
    (`suffix`, the spec's /proto, is kept in the hint a refusal gives)."""
    if not text.startswith("["):
        if text.count(":") > 1:
            # Shown quoted: the text may hold a line break, and the message is one line.
            readings = " or ".join(validation.shown(r) for r in _v6_readings(text, suffix))
            raise ValueError(f"service {quoted}: write an IPv6 VIP in brackets, as {readings}")
        return text.partition(":")
    addr, bracket, rest = text[1:].partition("]")
    if not bracket or (rest and not rest.startswith(":")) or ":" not in addr:
        raise ValueError(f"service {quoted}: write an IPv6 VIP as [ADDRESS] or [ADDRESS]:PORT")
    return addr, rest[:1], rest[1:]


def _v6_readings(text: str, suffix: str) -> list[str]:
    """What an unbracketed IPv6 spec may have meant: a last group that
    could be a port is offered both ways ('fd00::4:8080' is an address too)."""
    text = text.replace("[", "").replace("]", "")
    head, _, last = text.rpartition(":")
    out = []
    if last.isdigit() and int(last) <= 65535 and _is_v6(head):
        out.append(f"[{head}]:{last}{suffix}")
    if _is_v6(text) or not out:
        out.append(f"[{text}]{suffix}")
    return out


def _is_v6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def merge_services(specs: Iterable[str]) -> tuple[list[ServiceKey], list[str]]:
    """The services the specs name, each once in first-named order, and a
    notice for each spec that names a service again.

    A repeated spec, or `10.0.0.4:53/udp` beside `10.0.0.4:53` (TCP and UDP),
    is one service: loading it twice in one command would reload it twice.
    """
    keys: list[ServiceKey] = []
    notices: list[str] = []
    for spec in specs:
        named = parse_service(spec)
        again = [k for k in named if k in keys]
        keys += [k for k in named if k not in keys]
        if again:
            names = ", ".join(str(k) for k in again)
            notices.append(f"{spec.strip()} names {names} again: it is loaded once")
    return keys, notices


def service_spec(key: ServiceKey) -> str:
    """The spec `parse_service` reads back to this one key ("" = catch-all)."""
    if key.is_catch_all:
        return ""
    port = f":{key.port}" if key.port else ""
    proto = PROTO_NAMES.get(key.proto, "")
    vip = f"[{key.vip}]" if ":" in key.vip else key.vip
    return f"{vip}{port}/{proto}" if proto in {"tcp", "udp"} else f"{vip}{port}"


def merge_service_specs(text: str) -> tuple[list[ServiceKey], list[str]]:
    """Comma- or space-separated specs: each service once, and a notice for
    each spec that names one again (blank means the catch-all service).

    Raises ValueError with the operator-readable message of the first bad spec.
    """
    keys, notices = merge_services(s for s in re.split(r"[,\s]+", text.strip()) if s)
    return keys or [CATCH_ALL], notices


def parse_service_specs(text: str) -> list[ServiceKey]:
    return merge_service_specs(text)[0]
