"""Names and addresses of the scale-out lab (pure), beside the single-node
lab's (names.py), whose switch, client name, backends and VIP it shares:

    <p>-rt        the router: <p>-rt0 on the bridge (10.0.0.1), <p>-rtc to the client
    <p>-cl        the client, behind the router: <p>-cl0 (10.1.0.2, via 10.1.0.1)
    <p>-n1..nN    balancer nodes: <p>-n10 ... on the bridge (10.0.0.21 ...)
    <p>-be1..beK  backends, as in the single-node lab (10.0.0.11 ...)

The VIP (10.0.0.4) is held by no node: the router reaches it through the
/32 each node announces, a route more specific than the bridge's subnet.

Dual-stack, as the single-node lab: the same roles at the same host
numbers in fd00::/64 (router fd00::1, nodes fd00::21 ..., backends
fd00::11 ...), the client's fd01::/64 behind the router (fd01::2, via
fd01::1), and the IPv6 VIP fd00::4 reached through each node's /128.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from l4lb_tui.lab import names
from l4lb_tui.lab.errors import LabError
from l4lb_tui.lab.names import Node

DEFAULT_NODES = 3
# The router merges at most this many equal paths (birdconf's merge limit).
MAX_NODES = 16
ROUTER_ADDR = "10.0.0.1"
CLIENT_NET = ipaddress.IPv4Network("10.1.0.0/24")
ROUTER_CLIENT_ADDR = "10.1.0.1"
CLIENT_ADDR = "10.1.0.2"
FIRST_NODE_HOST = 21
FIRST_PROBE_HOST = 41  # each node's health prober's own address
ROUTER_ASN = 65000
NODE_ASN = 65001
VIP_RANGE = f"{names.VIP}/32"
ROUTER_ADDR6 = "fd00::1"
CLIENT_NET6 = ipaddress.IPv6Network("fd01::/64")
ROUTER_CLIENT_ADDR6 = "fd01::1"
CLIENT_ADDR6 = "fd01::2"
VIP_RANGE6 = f"{names.VIP6}/128"


def _host6(host: int) -> str:
    """As the single-node lab's backends: host 21 is fd00::21 (read as hex)."""
    return str(ipaddress.IPv6Address(f"{names.SUBNET6.network_address}{host}"))


def check_nodes(count: int) -> int:
    if not 2 <= count <= MAX_NODES:
        raise LabError(f"bad node count {count}: 2-{MAX_NODES}")
    return count


def router(prefix: str) -> Node:
    return Node(prefix, "rt", ROUTER_ADDR, ROUTER_ADDR6)


def router_client_link(prefix: str) -> str:
    """The router's end of its veth to the client."""
    return f"{prefix}-rtc"


def client(prefix: str) -> Node:
    return Node(prefix, "cl", CLIENT_ADDR, CLIENT_ADDR6)


def node(prefix: str, index: int) -> Node:
    """Balancer node `index`, from 1 (`n1`)."""
    host = FIRST_NODE_HOST + index - 1
    return Node(prefix, f"n{index}", str(names.SUBNET.network_address + host), _host6(host))


def probe_addr(index: int) -> str:
    return str(names.SUBNET.network_address + FIRST_PROBE_HOST + index - 1)


def probe_addr6(index: int) -> str:
    return _host6(FIRST_PROBE_HOST + index - 1)


def node_dir(prefix: str, index: int) -> Path:
    """Node `index`'s daemon's run directory (its L4LB_RUN_DIR)."""
    return names.state_dir(prefix) / f"n{index}"


def node_index(prefix: str, ns: str) -> int | None:
    if not ns.startswith(f"{prefix}-n") or not ns[len(prefix) + 2 :].isdigit():
        return None
    return int(ns[len(prefix) + 2 :])
