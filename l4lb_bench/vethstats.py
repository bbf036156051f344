"""Where a lab flood's frames are lost: the veth counters of the path.

A veth drops a frame when the ring of the NAPI it feeds (256 frames) is
full: the client's XDP_TX into its bridge port (counted as dropped on the
client's transmit side), the bridge's forward into the balancer's veth
(dropped on the balancer's bridge-side peer), and the balancer's XDP_TX into
that peer (an XDP_TX error on the balancer's veth, in `ethtool -S` only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from l4lb_bench import processes
from l4lb_bench.errors import BenchError

CLIENT_RING = "client port's ring full"
BALANCER_RING = "balancer veth's ring full"
PEER_RING = "peer's ring full (XDP_TX errors)"
WHERE = (CLIENT_RING, BALANCER_RING, PEER_RING)


def _tx_dropped(ns: str, ifname: str) -> int:
    out = processes.run(["ip", "-n", ns, "-s", "-j", "link", "show", "dev", ifname]).stdout
    try:
        return int(json.loads(out)[0]["stats64"]["tx"]["dropped"])
    except (ValueError, LookupError, TypeError) as exc:
        raise BenchError(f"ip -s link show {ifname}: unexpected output ({exc})") from None


def _ethtool(ns: str, ifname: str, key: str) -> int:
    out = processes.run(["ip", "netns", "exec", ns, "ethtool", "-S", ifname]).stdout
    for line in out.splitlines():
        name, _, value = line.strip().partition(":")
        if name == key:
            return int(value)
    return 0  # a driver that does not count it


def read(client: tuple[str, str], peer: tuple[str, str], lb: tuple[str, str]) -> dict[str, int]:
    """Drops so far: (namespace, ifname) of the client's veth, the balancer's
    bridge-side peer and the balancer's veth."""
    return {
        CLIENT_RING: _tx_dropped(*client),
        BALANCER_RING: _tx_dropped(*peer),
        PEER_RING: _ethtool(*lb, "rx_queue_0_xdp_tx_errors"),
    }


def delta(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    return {k: b[k] - a[k] for k in WHERE}
