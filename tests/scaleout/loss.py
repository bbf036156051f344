"""A node lost outright under keep-alive connections: how long the router
took to stop routing to it, and which connections carried on."""

from __future__ import annotations

import time

from l4lb_tui.lab.scaleout import ScaleLab
from tests.scaleout.conftest import Conn, Conns

GIVE_UP = 60.0  # seconds: far past any hold time; the figure itself goes to BENCHMARKS.md


def lose_node(lab: ScaleLab, index: int, conns: int, conns6: int = 0) -> tuple[float, list[Conn]]:
    """Kill node `index` while `conns` connections ask (and `conns6` over
    IPv6); the router's convergence time (s: until it routes neither VIP
    there) and the connections when they stopped."""
    held = Conns(lab, conns, conns6)
    time.sleep(0.5)
    node = lab.node_list[index - 1]
    try:
        killed = time.monotonic()
        lab.kill_node(index)
        while node.addr in lab.next_hops() or (conns6 and node.addr6 in lab.next_hops(lab.vip6)):
            assert time.monotonic() - killed < GIVE_UP, "the router still routes to the dead node"
            time.sleep(0.01)
        converged = time.monotonic() - killed
        time.sleep(2.0)  # the moved connections carry on meanwhile
    finally:
        done = held.finish()
    return converged, done
