"""The lab's sysctls and its IPv6 half: every link dual-stack, the IPv6 VIP
on the backends' loopback, the balancer's IPv6 outer and probe sources."""

from __future__ import annotations

from collections.abc import Sequence

from l4lb_tui.lab import names, topology
from l4lb_tui.lab.names import Node

# IPv6 on in every node's namespace, with nothing that sends on its own:
# no duplicate address detection (the VIP is on the balancer's link and on
# every backend's lo; addresses are usable at once) and no router
# solicitations (there is no router).  Ethernet frames the tests do not send
# would show in the balancer's counters.
IPV6_ON = {
    "net.ipv6.conf.all.disable_ipv6": "0",
    "net.ipv6.conf.default.disable_ipv6": "0",
    "net.ipv6.conf.all.accept_dad": "0",
    "net.ipv6.conf.default.accept_dad": "0",
    "net.ipv6.conf.all.router_solicitations": "0",
    "net.ipv6.conf.default.router_solicitations": "0",
}


def backend_sysctls(ifname: str) -> dict[str, str]:
    """DSR backends: hold the VIP on lo without claiming it on the wire.
    (IPv6 needs nothing: a node answers neighbour solicitations only for
    addresses of the link they arrive on, never for lo's.)"""
    return {
        # Answer ARP only for addresses on the asking interface: the VIP on
        # lo stays the balancer's on the wire.
        "net.ipv4.conf.all.arp_ignore": "1",
        # ARP requests name the veth's own address, never the VIP.
        "net.ipv4.conf.all.arp_announce": "2",
        # The decapsulated packet is for an address on lo but arrives on the
        # veth; strict reverse-path filtering would drop it.  The effective
        # value is the max of "all" and the interface's own.
        "net.ipv4.conf.all.rp_filter": "0",
        "net.ipv4.conf.default.rp_filter": "0",
        "net.ipv4.conf.lo.rp_filter": "0",
        f"net.ipv4.conf.{ifname}.rp_filter": "0",
    }


def configure6(client: Node, balancer: Node, backends: Sequence[Node]) -> None:
    """The IPv6 addresses of every node, once its link exists and is up."""
    prefixlen = names.SUBNET6.prefixlen
    for node in (client, balancer, *backends):
        topology.add_link_address(node.ns, node.ifname, node.addr6, prefixlen)
    # After the VIP, so that the balancer link's first global address (the
    # default outer source of ip6ip6) is the outer source, not the VIP.
    for own in (names.PROBE_SADDR6, names.OUTER_SADDR6):
        topology.add_link_address(balancer.ns, balancer.ifname, own, 128)
    for node in backends:
        topology.add_loopback_address(node.ns, names.VIP6)
    # Set after the link's MTU, which resets it.
    mtu = {f"net.ipv6.conf.{client.ifname}.mtu": str(names.CLIENT_MTU6)}
    topology.write_sysctls(client.ns, mtu)
