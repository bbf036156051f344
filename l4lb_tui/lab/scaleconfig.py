"""The scale-out lab's configs (pure text): each node's daemon config (its
balancer, the lab's two services with health checks, its [bgp] table) and
the router's BIRD config."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from l4lb_tui.bgp import Bfd, Peer, RouterConf
from l4lb_tui.bgp.birdconf import render_router
from l4lb_tui.destinations import Destination
from l4lb_tui.lab import names, scalenames
from l4lb_tui.lab.names import Node

# Quick checks: a node announces about a second after its daemon starts.
HEALTH = "interval = 0.5\ntimeout = 0.3\nrise = 2\nfall = 2\n"


def node_config(
    node: Node, index: int, backends: Sequence[Destination], bgp_dir: Path, bfd: bool = True
) -> str:
    """The daemon config of node `index` (its daemon runs inside its namespace)."""
    listed = "".join(f'  {{ ip = "{d.ip}", mac = "{d.mac}" }},\n' for d in backends)
    services = "".join(
        f'[[balancer.service]]\nvip = "{names.VIP}:{port}/{proto}"\nbackends = [\n{listed}]\n'
        f'[balancer.service.health]\ncheck = "{check}"\n{HEALTH}\n'
        for port, proto, check in ((names.HTTP_PORT, "tcp", "http"), (names.UDP_PORT, "udp", "udp"))
    )
    return (
        f'[[balancer]]\ninterface = "{node.ifname}"\nmode = "driver"\n'
        f'source = "{node.addr}"\nprobe_source = "{scalenames.probe_addr(index)}"\n\n'
        f"{services}"
        '[metrics]\nlisten = "127.0.0.1:9440"\n\n'
        f'[bgp]\nasn = {scalenames.NODE_ASN}\npeer = "{scalenames.ROUTER_ADDR}"\n'
        f'peer_asn = {scalenames.ROUTER_ASN}\nsource = "{node.addr}"\n'
        f'bfd = {"true" if bfd else "false"}\ndir = "{bgp_dir}"\n'
    )


def router_config(nodes: Sequence[Node], log: Path, bfd: bool = True) -> str:
    peers = tuple(Peer(f"node_{n.name}", n.addr, scalenames.NODE_ASN) for n in nodes)
    conf = RouterConf(
        scalenames.ROUTER_ADDR,
        scalenames.ROUTER_ASN,
        peers,
        scalenames.VIP_RANGE,
        bfd=Bfd() if bfd else None,
        log=str(log),
        max_paths=scalenames.MAX_NODES,
    )
    return render_router(conf)
