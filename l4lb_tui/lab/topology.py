"""Netlink side effects of the lab: namespaces, bridge, veths, addresses, sysctls.

All through pyroute2.  Links are always created inside the switch namespace
with their peer sent straight into the node's namespace, so nothing ever
appears in the caller's namespace, even if creation is interrupted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from l4lb_tui.lab.errors import LabError
from l4lb_tui.lab.names import Node

NETNS_DIR = Path("/var/run/netns")
_BRPORT_FORWARDING = 3
# pyroute2 names IFLA_XDP_ATTACHED values after the iproute2 keywords.
_XDP_MODES = {
    "xdp": "driver",
    "xdpgeneric": "generic",
    "xdpoffload": "offload",
    "xdpmulti": "multi",
}


@contextmanager
def _netlink(what: str) -> Iterator[None]:
    """Netlink refusals become LabErrors naming the step that was refused."""
    try:
        yield
    except NetlinkError as exc:
        # The kernel's extended ack when it gave one, else the errno's text.
        said = exc.args[1] if len(exc.args) > 1 and exc.args[1] else os.strerror(exc.code)
        raise LabError(f"{what}: {said}", tool="netlink") from exc


@contextmanager
def rtnl(ns: str | None) -> Iterator[IPRoute]:
    """An rtnetlink socket in `ns` (None: the caller's namespace).

    flags=0: pyroute2 would otherwise create a missing namespace, and a
    status or teardown must never bring one into being.
    """
    try:
        ipr = IPRoute(netns=ns, flags=0) if ns else IPRoute()
    except FileNotFoundError as exc:
        raise LabError(f"namespace {ns} does not exist", tool="netlink") from exc
    try:
        yield ipr
    finally:
        ipr.close()


# Namespaces


def namespaces() -> list[str]:
    return sorted(netns.listnetns())


def ensure_namespace(name: str) -> None:
    if name not in netns.listnetns():
        try:
            netns.create(name)
        except OSError as exc:
            raise LabError(f"create namespace {name}: {exc}", tool="netns") from exc


def remove_namespace(name: str) -> None:
    """Unmount and unlink; the kernel frees it once no process is left in it."""
    try:
        netns.remove(name)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise LabError(f"remove namespace {name}: {exc}", tool="netns") from exc


def namespace_pids(names: Iterable[str]) -> dict[str, list[int]]:
    """What `ip netns pids` reports, for several namespaces in one /proc scan."""
    wanted = set(names)
    return {ns: sorted(pids) for ns, pids in netns.ns_pids().items() if ns in wanted}


def write_sysctls(ns: str, values: Mapping[str, str]) -> None:
    """Set `net.*` sysctls as seen from inside `ns`.

    /proc/sys/net answers for the network namespace of the thread that opens
    it, so this thread enters `ns` for the writes and comes back.
    """
    netns.pushns(ns)
    try:
        for key, value in values.items():
            try:
                Path("/proc/sys", *key.split(".")).write_text(value)
            except OSError as exc:
                raise LabError(f"{key}={value} in {ns}: {exc.strerror}", tool="sysctl") from exc
    finally:
        netns.popns()


# Links


def _index(ipr: IPRoute, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return int(found[0]) if found else None


def ensure_bridge(ns: str, name: str) -> None:
    """A bridge that forwards at once: STP off, no forward delay.

    With STP on (or a delay) new ports sit in listening/learning and the
    first packets of a fresh lab vanish.
    """
    with rtnl(ns) as ipr, _netlink(f"bridge {name} in {ns}"):
        if _index(ipr, name) is None:
            ipr.link("add", ifname=name, kind="bridge", br_forward_delay=0, br_stp_state=0)
        ipr.link("set", index=_index(ipr, name), state="up")


def ensure_veth(switch_ns: str, bridge: str, node: Node) -> None:
    """The node's veth pair: `node.port` on the bridge, `node.ifname` in `node.ns`."""
    with rtnl(switch_ns) as ipr, _netlink(f"veth {node.port} in {switch_ns}"):
        if _index(ipr, node.port) is None:
            fd = os.open(NETNS_DIR / node.ns, os.O_RDONLY)
            try:
                ipr.link(
                    "add",
                    ifname=node.port,
                    kind="veth",
                    peer={"ifname": node.ifname, "net_ns_fd": fd},
                )
            finally:
                os.close(fd)
        ipr.link("set", index=_index(ipr, node.port), master=_index(ipr, bridge), state="up")


def configure_node_link(node: Node, prefixlen: int, mtu: int | None = None) -> None:
    with rtnl(node.ns) as ipr, _netlink(f"{node.ifname} in {node.ns}"):
        index = _index(ipr, node.ifname)
        if index is None:
            raise LabError(f"{node.ifname} missing in {node.ns}", tool="netlink")
        _ensure_address(ipr, index, node.addr, prefixlen)
        ipr.link("set", index=_index(ipr, "lo"), state="up")
        if mtu is not None:
            ipr.link("set", index=index, mtu=mtu)
        ipr.link("set", index=index, state="up")


def add_loopback_address(ns: str, addr: str) -> None:
    with rtnl(ns) as ipr, _netlink(f"{addr}/32 on lo in {ns}"):
        index = _index(ipr, "lo")
        assert index is not None, "every namespace has lo"
        _ensure_address(ipr, index, addr, 32)


def add_link_address(ns: str, ifname: str, addr: str, prefixlen: int) -> None:
    with rtnl(ns) as ipr, _netlink(f"{addr}/{prefixlen} on {ifname} in {ns}"):
        index = _index(ipr, ifname)
        if index is None:
            raise LabError(f"{ifname} missing in {ns}", tool="netlink")
        _ensure_address(ipr, index, addr, prefixlen)


def _ensure_address(ipr: IPRoute, index: int, addr: str, prefixlen: int) -> None:
    present = {(a.get("address"), a.get("prefixlen")) for a in ipr.addr("dump", index=index)}
    if (addr, prefixlen) not in present:
        ipr.addr("add", index=index, address=addr, prefixlen=prefixlen)


def link_mac(ns: str, ifname: str) -> str:
    with rtnl(ns) as ipr, _netlink(f"{ifname} in {ns}"):
        index = _index(ipr, ifname)
        if index is None:
            raise LabError(f"{ifname} missing in {ns}", tool="netlink")
        return str(ipr.link("get", index=index)[0].get("address"))


def delete_links(ns: str | None, names: Iterable[str]) -> None:
    with rtnl(ns) as ipr:
        for name in names:
            index = _index(ipr, name)
            if index is not None:
                with _netlink(f"delete {name}"):
                    ipr.link("del", index=index)


def wait_ready(switch_ns: str, nodes: Iterable[Node], timeout: float = 5.0) -> None:
    """Until every node link is up and every bridge port forwards.

    A port forwards only once both veth ends are up, a moment after the
    request; traffic sent before that is lost.
    """
    pending = list(nodes)
    deadline = time.monotonic() + timeout
    while True:
        pending = [n for n in pending if not _node_ready(switch_ns, n)]
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(n.port for n in pending)
            raise LabError(f"bridge ports not forwarding after {timeout:g} s: {names}")
        time.sleep(0.02)


def _node_ready(switch_ns: str, node: Node) -> bool:
    with rtnl(switch_ns) as ipr:
        index = _index(ipr, node.port)
        if index is None:
            return False
        link = ipr.link("get", index=index)[0]
        info = link.get_attr("IFLA_LINKINFO")
        slave = info.get_attr("IFLA_INFO_SLAVE_DATA") if info else None
        state = slave.get_attr("IFLA_BRPORT_STATE") if slave else None
        if link.get("operstate") != "UP" or state != _BRPORT_FORWARDING:
            return False
    with rtnl(node.ns) as ipr:
        index = _index(ipr, node.ifname)
        return index is not None and ipr.link("get", index=index)[0].get("operstate") == "UP"


# What exists


@dataclass(frozen=True, slots=True)
class XdpInfo:
    prog_id: int
    mode: str


@dataclass(frozen=True, slots=True)
class LinkInfo:
    name: str
    state: str
    mac: str
    mtu: int
    addresses: tuple[str, ...]
    xdp: XdpInfo | None
    # Bytes/packets as the kernel counts them on this link, for checks like
    # "no reply went through the balancer".
    rx_packets: int
    tx_packets: int


def links(ns: str | None) -> list[LinkInfo]:
    """Every link but lo in `ns`, with its addresses and attached XDP program."""
    with rtnl(ns) as ipr:
        addrs: dict[int, list[str]] = {}
        for a in ipr.addr("dump"):
            addrs.setdefault(a["index"], []).append(f"{a.get('address')}/{a.get('prefixlen')}")
        found = []
        for link in ipr.get_links():
            name = str(link.get("ifname"))
            if name == "lo":
                continue
            stats = link.get_attr("IFLA_STATS64") or {}
            found.append(
                LinkInfo(
                    name=name,
                    state=str(link.get("operstate")),
                    mac=str(link.get("address")),
                    mtu=int(link.get("mtu") or 0),
                    addresses=tuple(addrs.get(link["index"], [])),
                    xdp=_xdp_info(link),
                    rx_packets=int(stats.get("rx_packets", 0)),
                    tx_packets=int(stats.get("tx_packets", 0)),
                )
            )
        return sorted(found, key=lambda li: li.name)


def _xdp_info(link: Any) -> XdpInfo | None:
    xdp = link.get_attr("IFLA_XDP")
    if not xdp:
        return None
    # In "multi" mode (driver and offload together) only the per-mode ids
    # are reported; the driver one is what runs on the host.
    for attr in ("IFLA_XDP_PROG_ID", "IFLA_XDP_DRV_PROG_ID", "IFLA_XDP_SKB_PROG_ID",
                 "IFLA_XDP_HW_PROG_ID"):  # fmt: skip
        prog_id = xdp.get_attr(attr)
        if prog_id:
            mode = _XDP_MODES.get(xdp.get_attr("IFLA_XDP_ATTACHED"), "unknown")
            return XdpInfo(prog_id=int(prog_id), mode=mode)
    return None


def link_info(ns: str | None, ifname: str) -> LinkInfo | None:
    return next((li for li in links(ns) if li.name == ifname), None)
