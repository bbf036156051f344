"""The scale-out lab's configs (pure text): each node's daemon config (its
balancer, the lab's two services on each of its two VIPs with health
checks, its [bgp] table with both sessions) and the router's BIRD config."""

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
    node: Node,
    index: int,
    backends: Sequence[Destination],
    bgp_dir: Path,
    bfd: bool = True,
    backends6: Sequence[Destination] = (),
) -> str:
    """The daemon config of node `index` (its daemon runs inside its namespace)."""
    services = _services(names.VIP, backends)
    if backends6:
        services += _services(f"[{names.VIP6}]", backends6)
    six = (
        f'source6 = "{node.addr6}"\nprobe_source6 = "{scalenames.probe_addr6(index)}"\n'
        if backends6
        else ""
    )
    bgp6 = f'peer6 = "{scalenames.ROUTER_ADDR6}"\nsource6 = "{node.addr6}"\n' if backends6 else ""
    return (
        f'[[balancer]]\ninterface = "{node.ifname}"\nmode = "driver"\n'
        f'source = "{node.addr}"\nprobe_source = "{scalenames.probe_addr(index)}"\n{six}\n'
        f"{services}"
        '[metrics]\nlisten = "127.0.0.1:9440"\n\n'
        f'[bgp]\nasn = {scalenames.NODE_ASN}\npeer = "{scalenames.ROUTER_ADDR}"\n'
        f'peer_asn = {scalenames.ROUTER_ASN}\nsource = "{node.addr}"\n{bgp6}'
        f'bfd = {"true" if bfd else "false"}\ndir = "{bgp_dir}"\n'
    )


def _services(vip: str, backends: Sequence[Destination]) -> str:
    listed = "".join(f'  {{ ip = "{d.ip}", mac = "{d.mac}" }},\n' for d in backends)
    return "".join(
        f'[[balancer.service]]\nvip = "{vip}:{port}/{proto}"\nbackends = [\n{listed}]\n'
        f'[balancer.service.health]\ncheck = "{check}"\n{HEALTH}\n'
        for port, proto, check in ((names.HTTP_PORT, "tcp", "http"), (names.UDP_PORT, "udp", "udp"))
    )


def router_config(nodes: Sequence[Node], log: Path, bfd: bool = True) -> str:
    peers = tuple(Peer(f"node_{n.name}", n.addr, scalenames.NODE_ASN) for n in nodes)
    peers6 = tuple(Peer(f"node6_{n.name}", n.addr6, scalenames.NODE_ASN) for n in nodes)
    conf = RouterConf(
        scalenames.ROUTER_ADDR,
        scalenames.ROUTER_ASN,
        peers,
        scalenames.VIP_RANGE,
        bfd=Bfd() if bfd else None,
        log=str(log),
        max_paths=scalenames.MAX_NODES,
        peers6=peers6,
        local6=scalenames.ROUTER_ADDR6,
        vip_range6=scalenames.VIP_RANGE6,
    )
    return render_router(conf)
