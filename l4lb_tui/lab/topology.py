"""The lab's network, step by step, through the netlink adapter: namespaces,
bridge, veths, addresses, sysctls, and what exists.

Links are always created inside the switch namespace with their peer sent
straight into the node's namespace, so nothing ever appears in the caller's
namespace, even if creation is interrupted.  Each step's NetlinkError
becomes a LabError naming the subsystem that refused it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping

from l4lb_tui.lab.errors import LabError
from l4lb_tui.lab.names import Node
from l4lb_tui.netlink import LinkInfo, Netlink, NetlinkError, build, namespaces


@contextlib.contextmanager
def _step(tool: str = "netlink") -> Iterator[None]:
    try:
        yield
    except NetlinkError as exc:
        raise LabError(str(exc), tool=tool) from exc


# Namespaces


def ensure_namespace(name: str) -> None:
    with _step("netns"):
        namespaces.create(name)


def remove_namespace(name: str) -> None:
    """Unmount and unlink; the kernel frees it once no process is left in it."""
    with _step("netns"):
        namespaces.remove(name)


def write_sysctls(ns: str, values: Mapping[str, str]) -> None:
    """Set `net.*` sysctls as seen from inside `ns`."""
    with _step("sysctl"):
        namespaces.write_sysctls(ns, values)


# Links


def ensure_bridge(ns: str, name: str) -> None:
    with _step(), build.editing(ns) as links:
        links.add_bridge(name)
        links.set(name, up=True)


def ensure_veth(switch_ns: str, bridge: str, node: Node) -> None:
    """The node's veth pair: `node.port` on the bridge, `node.ifname` in `node.ns`."""
    with _step(), build.editing(switch_ns) as links:
        links.add_veth(node.port, node.ifname, peer_netns=node.ns)
        links.set(node.port, master=bridge, up=True)


def configure_node_link(node: Node, prefixlen: int, mtu: int | None = None) -> None:
    with _step(), build.editing(node.ns) as links:
        links.add_address(node.ifname, node.addr, prefixlen)
        links.set("lo", up=True)
        links.set(node.ifname, mtu=mtu, up=True)


def add_loopback_address(ns: str, addr: str) -> None:
    with _step(), build.editing(ns) as links:
        links.add_address("lo", addr, 128 if ":" in addr else 32)


def add_link_address(ns: str, ifname: str, addr: str, prefixlen: int) -> None:
    with _step(), build.editing(ns) as links:
        links.add_address(ifname, addr, prefixlen)


def loopback_addresses(ns: str) -> set[str]:
    """The IPv4 and global IPv6 addresses on lo in `ns`, without their prefix lengths."""
    with _step():
        # LinkInfo holds them as ADDR/PREFIXLEN, as `ip address` shows them.
        lo = Netlink(ns).link("lo")
        return {held.partition("/")[0] for held in (*lo.ipv4, *lo.ipv6)}


def link_mac(ns: str, ifname: str) -> str:
    with _step():
        return Netlink(ns).link(ifname).mac


def delete_links(ns: str | None, names: Iterable[str]) -> None:
    with _step(), build.editing(ns) as links:
        for name in names:
            links.delete(name)


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
    with _step(), build.editing(switch_ns) as links:
        if not links.forwarding(node.port):
            return False
    with _step(), build.editing(node.ns) as links:
        return links.is_up(node.ifname)


# What exists


def links(ns: str | None) -> list[LinkInfo]:
    """Every link but lo in `ns`, with its addresses and attached XDP program."""
    with _step():
        found = Netlink(ns).links()
    return sorted((li for li in found if li.ifname != "lo"), key=lambda li: li.ifname)


def link_info(ns: str | None, ifname: str) -> LinkInfo | None:
    with _step():
        return Netlink(ns).find(ifname)
