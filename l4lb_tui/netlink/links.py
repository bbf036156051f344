"""Links, addresses and neighbours, read through pyroute2 (rtnl.session):
what the product, the lab and the benchmarks know of an interface.

Errors raise NetlinkError with the kernel's own message.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from l4lb_tui import validation
from l4lb_tui.netlink import namespaces, rtnl
from l4lb_tui.netlink.errors import NetlinkError, kernel_words, pyroute_error, refused

if TYPE_CHECKING:
    from l4lb_tui.netlink.xdpswitch import XdpSwitch

_T = TypeVar("_T")
_A = TypeVar("_A")

# IFLA_XDP_ATTACHED, as pyroute2 decodes XDP_ATTACHED_* (raw numbers too,
# should a pyroute2 version leave them undecoded).
_XDP_ATTACHED: dict[object, str] = {
    None: "",
    0: "",
    1: "driver",
    2: "generic",
    3: "offload",
    4: "multi",
    "xdp": "driver",
    "xdpgeneric": "generic",
    "xdpoffload": "offload",
    "xdpmulti": "multi",
}


_MULTI_IDS = (
    ("IFLA_XDP_DRV_PROG_ID", "driver"),
    ("IFLA_XDP_SKB_PROG_ID", "generic"),
    ("IFLA_XDP_HW_PROG_ID", "offload"),
)


@dataclass(frozen=True, slots=True)
class LinkInfo:
    ifname: str
    ifindex: int
    mac: str
    mtu: int
    state: str  # operstate as the kernel reports it: UP, DOWN, UNKNOWN, ...
    admin_up: bool
    kind: str  # veth, bridge, ... ("" for physical NICs)
    driver: str
    xdp_mode: str  # "", driver, generic, offload, multi
    xdp_prog_id: int
    ipv4: tuple[str, ...] = field(default_factory=tuple)
    ipv6: tuple[str, ...] = field(default_factory=tuple)  # global scope, "ADDR/PREFIX"
    # As the kernel counts them on this link, for checks like "no reply
    # went through the balancer".
    rx_packets: int = 0
    tx_packets: int = 0

    @property
    def can_offload(self) -> bool:
        # Only Netronome's nfp driver offloads XDP (netdevsim only simulates it).
        return self.driver in {"nfp", "netdevsim"}


def validate_ifname(name: str) -> str:
    try:
        return validation.ifname(name)
    except ValueError as exc:
        raise NetlinkError(str(exc)) from None


def _driver(ifname: str, kind: str, in_other_netns: bool) -> str:
    # Virtual links have no device driver in sysfs; their kind names them.
    if kind:
        return kind
    # /sys shows this process's namespace: for another one it would name
    # the driver of a host link that merely shares the name.
    if in_other_netns:
        return ""
    try:
        return Path(f"/sys/class/net/{ifname}/device/driver").resolve(strict=True).name
    except OSError:
        return ""


def _xdp(msg: Any) -> tuple[str, int]:
    xdp = msg.get("IFLA_XDP")
    if not xdp:
        return "", 0
    attached = xdp.get("IFLA_XDP_ATTACHED")
    mode = _XDP_ATTACHED.get(attached, str(attached))
    if mode == "multi":
        # Programs in two modes at once (a NIC that offloads): the kernel
        # gives no single id; the balancer runs in driver or generic mode.
        for attr, which in _MULTI_IDS:
            if xdp.get(attr):
                return which, int(xdp.get(attr))
    prog_id = xdp.get("IFLA_XDP_PROG_ID") or 0
    return mode, int(prog_id)


def _link(
    msg: Any,
    addrs: dict[int, list[str]],
    in_other_netns: bool = False,
    addrs6: dict[int, list[str]] | None = None,
) -> LinkInfo:
    ifname = str(msg.get("ifname"))
    linkinfo = msg.get("IFLA_LINKINFO")
    kind = str(linkinfo.get("IFLA_INFO_KIND") or "") if linkinfo else ""
    mode, prog_id = _xdp(msg)
    index = int(msg["index"])
    stats = msg.get("IFLA_STATS64") or {}
    return LinkInfo(
        ifname=ifname,
        ifindex=index,
        mac=str(msg.get("address") or ""),
        mtu=int(msg.get("mtu") or 0),
        state=str(msg.get("operstate") or "UNKNOWN"),
        admin_up=bool(msg["flags"] & 1),
        kind=kind,
        driver=_driver(ifname, kind, in_other_netns),
        xdp_mode=mode,
        xdp_prog_id=prog_id,
        ipv4=tuple(addrs.get(index, [])),
        ipv6=tuple((addrs6 or {}).get(index, [])),
        rx_packets=int(stats.get("rx_packets", 0)),
        tx_packets=int(stats.get("tx_packets", 0)),
    )


def _or_none(lookup: Callable[[_A], _T], arg: _A) -> _T | None:
    """lookup(arg), or None where libc finds no such link (ENODEV, ENXIO)."""
    try:
        return lookup(arg)
    except OSError:
        return None


class Netlink:
    """Links of this process's network namespace, or of a named one.

    pyroute2's IPRoute is synchronous and refuses to run inside a running
    asyncio loop: the lookups a Balancer makes step out of one
    (rtnl.off_loop); the console polls from thread workers.
    """

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns

    def _addrs(self, ipr: Any, family: int = 2) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for msg in ipr.get_addr(family=family):
            if family == 10 and msg["scope"] != 0:
                continue  # link-local and host scope: no outer source beyond the link
            out.setdefault(int(msg["index"]), []).append(
                f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}"
            )
        return out

    def links(self) -> list[LinkInfo]:
        with refused("listing links"), rtnl.session(self.netns) as ipr:
            addrs, addrs6 = self._addrs(ipr), self._addrs(ipr, 10)
            return [_link(m, addrs, bool(self.netns), addrs6) for m in ipr.get_links()]

    def link(self, ifname: str) -> LinkInfo:
        found = self.find(ifname)
        if found is None:
            raise NetlinkError(f"interface {ifname} does not exist")
        return found

    def find(self, ifname: str) -> LinkInfo | None:
        """The link of that name here; None when there is none."""
        validate_ifname(ifname)
        return rtnl.off_loop(lambda: self._find(ifname))

    def _find(self, ifname: str) -> LinkInfo | None:
        with refused(f"interface {ifname}"), rtnl.session(self.netns) as ipr:
            index = rtnl.index(ipr, ifname)
            if index is None:
                return None
            addrs, addrs6 = self._addrs(ipr), self._addrs(ipr, 10)
            return _link(ipr.get_links(index)[0], addrs, bool(self.netns), addrs6)

    def by_index(self, ifindex: int) -> LinkInfo | None:
        """The link with that index here, whatever its name is now; None when
        there is none (deleted, or moved to another namespace)."""
        return rtnl.off_loop(lambda: self._by_index(ifindex))

    def _by_index(self, ifindex: int) -> LinkInfo | None:
        try:
            with rtnl.session(self.netns) as ipr:
                found = ipr.get_links(ifindex)
                addrs, addrs6 = self._addrs(ipr), self._addrs(ipr, 10)
                return _link(found[0], addrs, bool(self.netns), addrs6) if found else None
        except pyroute_error() as exc:
            if exc.args and exc.args[0] == errno.ENODEV:
                return None
            raise NetlinkError(f"interface index {ifindex}: {kernel_words(exc)}") from None

    def index_of(self, ifname: str) -> int | None:
        """The index of the link of that name here (None: none).  A libc
        call, not a netlink dump: every command resolves its name so."""
        validate_ifname(ifname)
        return self.call_inside(lambda: _or_none(socket.if_nametoindex, ifname))

    def name_of(self, ifindex: int) -> str | None:
        """The name the link with this index has now (None: it is gone)."""
        return self.call_inside(lambda: _or_none(socket.if_indextoname, ifindex))

    def vlans_on(self, ifname: str) -> list[str]:
        """The VLAN sub-interfaces stacked on a link (in this namespace)."""
        with refused(f"interface {ifname}"), rtnl.session(self.netns) as ipr:
            index = rtnl.index(ipr, ifname)
            if index is None:
                raise NetlinkError(f"interface {ifname} does not exist")
            return sorted(
                str(m.get("ifname"))
                for m in ipr.get_links()
                if m.get("IFLA_LINK") == index
                and (info := m.get("IFLA_LINKINFO"))
                and info.get("IFLA_INFO_KIND") == "vlan"
            )

    def neighbour_mac(self, ip: str) -> str | None:
        """The MAC the kernel's neighbour table holds for ip, if reachable."""
        with refused("neighbour table"), rtnl.session(self.netns) as ipr:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            for msg in ipr.get_neighbours(family=family, dst=ip):
                mac = msg.get("NDA_LLADDR")
                if mac and mac != "00:00:00:00:00:00":
                    return str(mac)
        return None

    def call_inside(self, fn: Callable[[], _T]) -> _T:
        """fn() in this adapter's network namespace (namespaces.call_in)."""
        return namespaces.call_in(self.netns, fn)

    def switch_xdp(self, ifname: str, prog_fd: int, old: str, new: str) -> XdpSwitch:
        """Move the attached program `prog_fd` from mode `old` to `new`
        (driver or generic) with the shortest gap the kernel allows: see
        xdpswitch.switch."""
        from l4lb_tui.netlink import xdpswitch

        validate_ifname(ifname)

        def open_here() -> tuple[socket.socket, int]:
            try:
                index = socket.if_nametoindex(ifname)
            except OSError:
                raise NetlinkError(f"interface {ifname} does not exist") from None
            return xdpswitch.rtnl_socket(), index

        sock, index = self.call_inside(open_here)
        with sock:
            return xdpswitch.switch(sock, ifname, index, prog_fd, old, new)
