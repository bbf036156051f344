"""The kinds of packet timed: the frame of each, what the balancer must do
with it, and the target its figure is held to."""

from __future__ import annotations

from dataclasses import dataclass

from l4lb_bench import frames, frames6
from l4lb_tui.destinations import Destination

VIP = "10.0.0.4"
SADDR = "10.0.0.1"
CLIENT = "10.1.0.2"
SERVICES = (f"{VIP}:8080/tcp", f"{VIP}:9000/udp")
BACKENDS = tuple(Destination(f"10.0.0.{11 + i}", f"02:00:00:00:00:{11 + i:02x}") for i in range(3))
VIP6 = "fd00::4"
SADDR6 = "fd00::1"
CLIENT6 = "fd00:1::2"
SERVICES6 = (f"[{VIP6}]:8080/tcp", f"[{VIP6}]:9000/udp")
BACKENDS6 = tuple(Destination(f"fd00::{11 + i}", f"02:00:00:00:01:{11 + i:02x}") for i in range(3))


XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX = 0, 1, 2, 3
VERDICT_NAMES = {XDP_ABORTED: "ABORTED", XDP_DROP: "DROP", XDP_PASS: "PASS", XDP_TX: "TX"}
TX = "tx"  # Kind.expect for packets the balancer must forward


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    what: str
    frame: bytes
    expect: str  # TX, or the name of the reason counter that must count it
    ref: str  # the reference its target is set against
    target: float  # the most its median ratio to `ref` may be
    new_flows: bool = False  # the wrapper makes every packet a new flow
    flows: int = 0  # the wrapper cycles through this many established flows
    extra: bool = False  # timed only with --costs (or when named with --kind)


_TCP, _UDP = frames.PROTO_TCP, frames.PROTO_UDP
# Many established flows: (name suffix, flows, target ratio to the reflector).
_MANY = (("10k", 10_000, 1.4), ("100k", 100_000, 1.4), ("1m", 1_000_000, 1.5))
_KINDS = (
    Kind(
        "syn-new",
        f"TCP SYN to {VIP}:8080, a new flow every packet",
        frames.ipv4(CLIENT, VIP, _TCP, 40000, 8080),
        TX,
        "refl",
        1.5,
        new_flows=True,
    ),
    Kind(
        "udp-new",
        f"UDP to {VIP}:9000, a new flow every packet",
        frames.ipv4(CLIENT, VIP, _UDP, 40000, 9000),
        TX,
        "refl",
        1.5,
        new_flows=True,
    ),
    Kind(
        "tcp-est",
        f"TCP ACK to {VIP}:8080, one established flow",
        frames.ipv4(CLIENT, VIP, _TCP, 40001, 8080, tcp_flags=frames.TCP_ACK),
        TX,
        "refl",
        1.3,
        extra=True,
    ),
    Kind(
        "udp-est",
        f"UDP to {VIP}:9000, one established flow",
        frames.ipv4(CLIENT, VIP, _UDP, 40001, 9000),
        TX,
        "refl",
        1.3,
    ),
    *(
        Kind(
            f"udp-{label}",
            f"UDP to {VIP}:9000, the next of {n:,} established flows every packet",
            frames.ipv4(CLIENT, VIP, _UDP, 40003, 9000),
            TX,
            "refl",
            target,
            flows=n,
        )
        for label, n, target in _MANY
    ),
    Kind(
        "udp-1500",
        f"1500-byte UDP frame to {VIP}:9000, established",
        frames.ipv4(CLIENT, VIP, _UDP, 40002, 9000, size=1500),
        TX,
        "refl",
        1.3,
    ),
    Kind(
        "not-vip",
        "UDP to 10.0.0.9:53, not a VIP (host traffic)",
        frames.ipv4(CLIENT, "10.0.0.9", _UDP, 40000, 53),
        "PASS_NOT_VIP",
        "pass",
        1.1,
    ),
    Kind(
        "vip-port",
        f"TCP SYN to {VIP}:22, the VIP but no such service",
        frames.ipv4(CLIENT, VIP, _TCP, 40000, 22),
        "PASS_NO_SERVICE",
        "pass",
        1.1,
        extra=True,
    ),
    Kind(
        "syn6-new",
        f"TCP SYN to [{VIP6}]:8080, a new IPv6 flow every packet",
        frames6.ipv6(CLIENT6, VIP6, _TCP, 40000, 8080),
        TX,
        "refl",
        1.5,
        new_flows=True,
    ),
    Kind(
        "udp6-new",
        f"UDP to [{VIP6}]:9000, a new IPv6 flow every packet",
        frames6.ipv6(CLIENT6, VIP6, _UDP, 40000, 9000),
        TX,
        "refl",
        1.5,
        new_flows=True,
    ),
    Kind(
        "udp6-est",
        f"UDP to [{VIP6}]:9000, one established IPv6 flow",
        frames6.ipv6(CLIENT6, VIP6, _UDP, 40001, 9000),
        TX,
        "refl",
        1.3,
    ),
    Kind(
        "not-vip6",
        "UDP to [fd00::9]:53, IPv6 not for a VIP",
        frames6.ipv6(CLIENT6, "fd00::9", _UDP, 40000, 53),
        "PASS_NOT_VIP",
        "pass",
        1.1,
    ),
    Kind(
        "arp",
        f"ARP who-has {VIP}",
        frames.arp_request(CLIENT, VIP),
        "PASS_NOT_IPV4",
        "pass",
        1.1,
    ),
)


def kinds() -> tuple[Kind, ...]:
    return _KINDS
