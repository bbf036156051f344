"""Backends' MACs from the kernel's neighbour table of the balancer's own
interface (IPv4 and IPv6), resolved when missing: a datagram toward each
unresolved backend, sent from that interface, makes the kernel ask (ARP, or
IPv6 neighbour discovery) as any packet would.

Only the balancer's interface counts: an entry on another link of the
namespace says nothing of the MAC behind this one.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import time
from collections.abc import Collection, Iterable

from l4lb_tui.netlink import namespaces, rtnl
from l4lb_tui.netlink.errors import NetlinkError, refused

# States whose address is not (yet, or any more) the neighbour's, and NOARP:
# the kernel's stand-in (broadcast) for a link it will not ask on.
_NUD_INCOMPLETE = 0x01
_NUD_FAILED = 0x20
_NUD_NOARP = 0x40
_DISCARD = 9  # the port the datagram goes to: RFC 863's, answered by no one
POLL = 0.05


def macs_on(netns: str | None, ifname: str, ips: Iterable[str]) -> dict[str, str]:
    """The MACs the neighbour table of `ifname` holds for `ips` (those it has)."""
    wanted = set(ips)
    found: dict[str, str] = {}
    with refused("neighbour table"), rtnl.session(netns) as ipr:
        index = rtnl.index(ipr, ifname)
        if index is None:
            raise NetlinkError(f"interface {ifname} does not exist")
        entries = [
            *ipr.get_neighbours(family=socket.AF_INET, ifindex=index),
            *ipr.get_neighbours(family=socket.AF_INET6, ifindex=index),
        ]
        for msg in entries:
            dst, mac = msg.get("NDA_DST"), msg.get("NDA_LLADDR")
            # The wanted addresses are canonical text; the kernel's may not be.
            ip = str(ipaddress.ip_address(dst)) if dst else None
            if ip not in wanted or not mac or mac == "00:00:00:00:00:00":
                continue
            if msg["state"] & (_NUD_INCOMPLETE | _NUD_FAILED | _NUD_NOARP):
                continue
            if int(str(mac)[:2], 16) & 1:  # broadcast or multicast: no one host's
                continue
            found[ip] = str(mac)
    return found


def solicit(
    netns: str | None, ifname: str, ips: Iterable[str], source: str = "", source6: str = ""
) -> None:
    """Make the kernel resolve `ips` on `ifname`: one empty UDP datagram to
    each, out of that interface, from `source` (`source6` for IPv6 ones) if
    given (the ARP request says it: a backend ignores one from an address it
    holds itself, a VIP); one that cannot be sent is passed over (it stays
    unresolved)."""
    targets = sorted(set(ips))

    def send(family: socket.AddressFamily, own: str, to: list[str]) -> None:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            if own:
                with contextlib.suppress(OSError):
                    sock.bind((own, 0))
            sock.setblocking(False)
            for ip in to:
                with contextlib.suppress(OSError):
                    sock.sendto(b"", (ip, _DISCARD))

    def both() -> None:
        v4 = [ip for ip in targets if ":" not in ip]
        v6 = [ip for ip in targets if ":" in ip]
        if v4:
            send(socket.AF_INET, source, v4)
        if v6:
            send(socket.AF_INET6, source6, v6)

    namespaces.call_in(netns, both)


def asking_source(held: Iterable[str], vips: Collection[str]) -> str:
    """The address (of `held`, "ADDR/PREFIX" as netlink lists them) to ask
    for a backend's MAC from: never a VIP, since backends hold the VIPs and
    ignore a request from one ("": none, the kernel's choice)."""
    return next((a.split("/")[0] for a in held if a.split("/")[0] not in vips), "")


def resolve(
    netns: str | None,
    ifname: str,
    ips: Iterable[str],
    source: str = "",
    wait: float = 1.0,
    source6: str = "",
) -> dict[str, str]:
    """The MACs of `ips` on `ifname`, asking the network (from `source`, or
    `source6`) for those the table lacks and waiting up to `wait` seconds
    for the answers."""
    wanted = set(ips)
    found = macs_on(netns, ifname, wanted)
    if found.keys() >= wanted:
        return found
    solicit(netns, ifname, wanted - found.keys(), source, source6)
    until = time.monotonic() + wait
    while time.monotonic() < until and not found.keys() >= wanted:
        time.sleep(POLL)
        found = macs_on(netns, ifname, wanted)
    return found
