"""Links made and changed: the lab's network and the benchmarks' veth pairs.

Each step leaves what already exists as it is, so a second `lab up`, or one
after an interrupted one, completes a network without undoing any of it.
A refusal raises NetlinkError naming the step, the namespace and the
kernel's words.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from l4lb_tui.netlink import namespaces, rtnl
from l4lb_tui.netlink.errors import NetlinkError, refused

_BR_STATE_FORWARDING = 3  # linux/if_bridge.h


class Links:
    """The links of one namespace, changed over one rtnetlink session."""

    def __init__(self, ipr: Any, netns: str | None) -> None:
        self._ipr = ipr
        self.where = f"namespace {netns}" if netns else "this namespace"

    def index(self, ifname: str) -> int | None:
        return rtnl.index(self._ipr, ifname)

    def _existing(self, ifname: str) -> int:
        index = self.index(ifname)
        if index is None:
            raise NetlinkError(f"{ifname} missing in {self.where}")
        return index

    def add_bridge(self, name: str) -> None:
        """A bridge that forwards at once: STP off, no forward delay.

        With STP on (or a delay) new ports sit in listening/learning and the
        first packets of a fresh network vanish.
        """
        if self.index(name) is not None:
            return
        with refused(f"bridge {name} in {self.where}"):
            self._ipr.link("add", ifname=name, kind="bridge", br_forward_delay=0, br_stp_state=0)

    def add_veth(
        self, name: str, peer: str, peer_netns: str | None = None, mtu: int | None = None
    ) -> None:
        """A veth pair, `name` here and `peer` in `peer_netns` (None: here too).

        The peer is made straight in its namespace: it never appears here,
        even if this is interrupted.
        """
        if self.index(name) is not None:
            return
        sizes = {"mtu": mtu} if mtu is not None else {}
        with contextlib.ExitStack() as stack:
            other: dict[str, object] = {"ifname": peer, **sizes}
            if peer_netns:
                fd = namespaces.open_named(peer_netns)
                stack.callback(os.close, fd)
                other["net_ns_fd"] = fd
            with refused(f"veth {name} in {self.where}"):
                self._ipr.link("add", ifname=name, kind="veth", peer=other, **sizes)

    def set(
        self, ifname: str, *, up: bool = True, mtu: int | None = None, master: str | None = None
    ) -> None:
        """Change a link: its MTU, its bridge (`master`), and up (or down)."""
        index = self._existing(ifname)
        with refused(f"{ifname} in {self.where}"):
            if mtu is not None:
                self._ipr.link("set", index=index, mtu=mtu)
            if master is not None:
                self._ipr.link("set", index=index, master=self._existing(master))
            self._ipr.link("set", index=index, state="up" if up else "down")

    def add_address(self, ifname: str, addr: str, prefixlen: int) -> None:
        """An IPv4 address on a link, unless it has it already."""
        index = self._existing(ifname)
        with refused(f"{addr}/{prefixlen} on {ifname} in {self.where}"):
            present = {
                (a.get("address"), a.get("prefixlen")) for a in self._ipr.addr("dump", index=index)
            }
            if (addr, prefixlen) not in present:
                self._ipr.addr("add", index=index, address=addr, prefixlen=prefixlen)

    def set_neighbour(self, ifname: str, ip: str, mac: str) -> None:
        """A permanent neighbour entry (as `ip neigh replace` makes): `ip` is
        at `mac` on this link, with no ARP asked or answered."""
        index = self._existing(ifname)
        with refused(f"neighbour {ip} on {ifname} in {self.where}"):
            self._ipr.neigh("replace", dst=ip, lladdr=mac, ifindex=index, state="permanent")

    def delete(self, ifname: str) -> None:
        """Delete a link (a veth takes its peer with it); none: nothing to do."""
        index = self.index(ifname)
        if index is not None:
            with refused(f"delete {ifname} in {self.where}"):
                self._ipr.link("del", index=index)

    def is_up(self, ifname: str) -> bool:
        index = self.index(ifname)
        if index is None:
            return False
        with refused(f"{ifname} in {self.where}"):
            return bool(self._ipr.link("get", index=index)[0].get("operstate") == "UP")

    def forwarding(self, port: str) -> bool:
        """A bridge port that is up and forwards: only once both ends of its
        veth are up, a moment after the request; what is sent before that
        is lost."""
        index = self.index(port)
        if index is None:
            return False
        with refused(f"{port} in {self.where}"):
            link = self._ipr.link("get", index=index)[0]
        info = link.get_attr("IFLA_LINKINFO")
        slave = info.get_attr("IFLA_INFO_SLAVE_DATA") if info else None
        state = slave.get_attr("IFLA_BRPORT_STATE") if slave else None
        return bool(link.get("operstate") == "UP" and state == _BR_STATE_FORWARDING)


@contextlib.contextmanager
def editing(netns: str | None) -> Iterator[Links]:
    """The links of a named namespace (None: the calling thread's)."""
    with rtnl.session(netns) as ipr:
        yield Links(ipr, netns)
