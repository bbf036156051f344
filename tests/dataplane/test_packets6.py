"""IPv6 packet fixtures through BPF_PROG_TEST_RUN on the real program, one
for every verdict of the v6 path (the v4 ones: test_packets.py).  The v6
services are written into the maps by v6kit until the reload writer learns
IPv6."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RS,
    ICMPv6PacketTooBig,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    in6_chksum,
)
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from l4lb_tui import bpfsys
from l4lb_tui.abi import FlowStat, Reason, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination
from l4lb_tui.ring_fill import FillMode
from l4lb_tui.services import parse_service
from tests.conftest import veth_netns
from tests.dataplane.conftest import BACKENDS, SADDR

pytestmark = pytest.mark.kernel

CLIENT_MAC = "02:00:00:00:00:02"
LB_MAC = "02:00:00:00:00:04"
CLIENT6 = "fd00::2"
SADDR6 = "fd00::1"
VIP6 = "fd00::4"
B6 = tuple(Destination(f"fd00::1{i + 1}", f"02:00:00:00:00:1{i + 1}") for i in range(3))
WEIGHTED = tuple(Destination(b.ip, b.mac, weight=w) for b, w in zip(B6, (1, 1, 2), strict=True))
DRAINED = tuple(Destination(b.ip, b.mac, drained=i == 2) for i, b in enumerate(B6))
BY_IP = {b.ip: b.mac for b in B6}


@dataclass
class Loaded6:
    balancer: Balancer
    prog_fd: int
    ifmac: str

    def run(self, frame: bytes) -> bpfsys.RunResult:
        return bpfsys.test_run(self.prog_fd, frame)

    def reason(self, r: Reason) -> int:
        return self.balancer.counters().reasons[r][0]

    def flows(self) -> dict[FlowStat, int]:
        return self.balancer.counters().flows6


@pytest.fixture(scope="module")
def lb6() -> Iterator[Loaded6]:
    """v4 services beside v6 ones, each loaded as an operator would."""
    with veth_netns("h17a") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", SADDR, saddr6=SADDR6)
        bal.load(parse_service("10.0.0.4:8080/tcp") + parse_service("10.0.0.5"), BACKENDS)
        bal.load(parse_service(f"[{VIP6}]:8080/tcp") + parse_service(f"[{VIP6}]:9000/udp"), B6)
        bal.load(parse_service("[fd00::5]/tcp"), B6, FillMode.ROUND_ROBIN)
        bal.load(parse_service("[fd00::6]:7000/udp"), WEIGHTED)
        bal.load(parse_service("[fd00::7]:7000/udp"), DRAINED)
        fd = bpfsys.obj_get(bal.prog_pin)
        try:
            yield Loaded6(bal, fd, bal.link().mac)
        finally:
            os.close(fd)
            bal.detach()


def eth() -> Ether:
    return Ether(src=CLIENT_MAC, dst=LB_MAC)


def tcp6(
    dst: str = VIP6, dport: int = 8080, sport: int = 40000, flags: str = "S", **ip: object
) -> bytes:
    return bytes(
        eth() / IPv6(src=CLIENT6, dst=dst, **ip) / TCP(sport=sport, dport=dport, flags=flags)
    )


def udp6(
    dst: str = VIP6, dport: int = 9000, sport: int = 40000, size: int = 4, **ip: object
) -> bytes:
    return bytes(
        eth() / IPv6(src=CLIENT6, dst=dst, **ip) / UDP(sport=sport, dport=dport) / Raw(b"p" * size)
    )


def encapsulated(lb: Loaded6, frame: bytes, out: bytes) -> str:
    """Check every outer field; return the backend the packet went to."""
    outer = Ether(out)
    ip = outer[IPv6]
    assert ip.dst in BY_IP, f"unknown backend {ip.dst}"
    assert outer.dst == BY_IP[ip.dst]
    assert outer.src == lb.ifmac
    assert outer.type == 0x86DD
    assert ip.version == 6
    assert ip.nh == 41, "outer next header must be IPv6 (ip6ip6)"
    assert ip.src == SADDR6
    assert ip.hlim == 64
    inner = frame[14:]
    assert ip.plen == 40 + int.from_bytes(inner[4:6], "big")
    assert ip.tc == IPv6(inner).tc, "traffic class copied from the inner header"
    assert out[54:] == frame[14:], "inner packet must be the input packet, byte for byte"
    return str(ip.dst)


def test_tcp_to_a_v6_service_is_encapsulated(lb6: Loaded6) -> None:
    frame = tcp6()
    res = lb6.run(frame)
    assert res.verdict == "XDP_TX"
    encapsulated(lb6, frame, res.data)


def test_udp_with_traffic_class_is_encapsulated(lb6: Loaded6) -> None:
    frame = udp6(tc=0xB8, fl=12345)
    res = lb6.run(frame)
    assert res.verdict == "XDP_TX"
    encapsulated(lb6, frame, res.data)


def test_one_flow_one_backend_one_flow_label_and_flows_spread(lb6: Loaded6) -> None:
    outs = [lb6.run(udp6(sport=41000)).data for _ in range(10)]
    assert len({Ether(o)[IPv6].dst for o in outs}) == 1
    assert len({Ether(o)[IPv6].fl for o in outs}) == 1, "a flow keeps one outer flow label"
    seen: Counter[str] = Counter()
    for sport in range(20000, 20600):
        frame = udp6(sport=sport)
        seen[encapsulated(lb6, frame, lb6.run(frame).data)] += 1
    assert set(seen) == set(BY_IP), seen
    assert min(seen.values()) > 600 / 3 * 0.7, seen


def test_any_port_round_robin_service(lb6: Loaded6) -> None:
    seen = {
        encapsulated(lb6, f, lb6.run(f).data)
        for f in (tcp6("fd00::5", 22, s) for s in range(300, 400))
    }
    assert seen == set(BY_IP)


def test_weights_share_new_flows(lb6: Loaded6) -> None:
    seen: Counter[str] = Counter()
    for sport in range(1000, 3000):
        frame = udp6("fd00::6", 7000, sport)
        seen[encapsulated(lb6, frame, lb6.run(frame).data)] += 1
    heavy = seen["fd00::13"] / 2000
    assert 0.4 < heavy < 0.6, f"weight 2 of 4 should take about half: {seen}"


def test_a_drained_backend_takes_no_new_flows(lb6: Loaded6) -> None:
    seen = {
        encapsulated(lb6, f, lb6.run(f).data)
        for f in (udp6("fd00::7", 7000, s) for s in range(500, 800))
    }
    assert seen == {"fd00::11", "fd00::12"}


def test_first_packet_is_new_the_second_stored_the_next_a_hit(lb6: Loaded6) -> None:
    counts = [lb6.flows()]
    for _ in range(3):
        lb6.run(udp6(sport=43210))
        counts.append(lb6.flows())
    steps = [{s for s in FlowStat if b[s] != a[s]} for a, b in itertools.pairwise(counts)]
    assert steps == [{FlowStat.NEW}, {FlowStat.STORED}, {FlowStat.HIT}]


PASS_CASES = [
    ("not a VIP", udp6(dst="fd00::99"), Reason.PASS_NOT_VIP),
    ("no service on the port", tcp6(dport=22), Reason.PASS_NO_SERVICE),
    ("tcp on the udp port", tcp6(dport=9000), Reason.PASS_NO_SERVICE),
    (
        "neighbour solicitation",
        bytes(
            Ether(src=CLIENT_MAC, dst="33:33:ff:00:00:04")
            / IPv6(src="fe80::2", dst="ff02::1:ff00:4", hlim=255)
            / ICMPv6ND_NS(tgt=VIP6)
        ),
        Reason.PASS_NOT_VIP,
    ),
    (
        "router solicitation",
        bytes(
            Ether(src=CLIENT_MAC, dst="33:33:00:00:00:02")
            / IPv6(src="fe80::2", dst="ff02::2", hlim=255)
            / ICMPv6ND_RS()
        ),
        Reason.PASS_NOT_VIP,
    ),
    (
        "neighbour advertisement to the VIP",
        bytes(eth() / IPv6(src="fe80::2", dst=VIP6, hlim=255) / ICMPv6ND_NA(tgt="fe80::2")),
        Reason.PASS_NOT_TCP_UDP,
    ),
    (
        "hop-by-hop",
        bytes(eth() / IPv6(src=CLIENT6, dst=VIP6) / IPv6ExtHdrHopByHop() / UDP(dport=9000)),
        Reason.PASS_IPV6_EXT,
    ),
    (
        "routing",
        bytes(eth() / IPv6(src=CLIENT6, dst=VIP6) / IPv6ExtHdrRouting() / TCP(dport=8080)),
        Reason.PASS_IPV6_EXT,
    ),
    (
        "destination options",
        bytes(eth() / IPv6(src=CLIENT6, dst=VIP6) / IPv6ExtHdrDestOpt() / UDP(dport=9000)),
        Reason.PASS_IPV6_EXT,
    ),
    (
        "fragment",
        bytes(eth() / IPv6(src=CLIENT6, dst=VIP6) / IPv6ExtHdrFragment(m=1) / UDP(dport=9000)),
        Reason.PASS_FRAGMENT,
    ),
    ("cut inside the IPv6 header", udp6()[:40], Reason.PASS_NOT_VIP),
    ("malformed, not a VIP", udp6(dst="fd00::99", plen=900), Reason.PASS_NOT_VIP),
]


@pytest.mark.parametrize(("name", "frame", "reason"), PASS_CASES, ids=[c[0] for c in PASS_CASES])
def test_not_balanced_passes_unchanged(
    lb6: Loaded6, name: str, frame: bytes, reason: Reason
) -> None:
    before = lb6.reason(reason)
    res = lb6.run(frame)
    assert res.verdict == "XDP_PASS", name
    assert res.data == frame, "passed traffic must be untouched"
    assert lb6.reason(reason) == before + 1


def _bad_version() -> bytes:
    f = bytearray(udp6())
    f[14] = 0x40 | (f[14] & 0x0F)
    return bytes(f)


DROP_CASES = [
    ("payload length past the frame", udp6(plen=900), Reason.DROP_MALFORMED),
    ("version 4 in an IPv6 frame", _bad_version(), Reason.DROP_MALFORMED),
    ("tcp header cut", tcp6()[: 54 + 12], Reason.DROP_MALFORMED),
    (
        "tcp header shorter than 20",
        bytes(eth() / IPv6(src=CLIENT6, dst=VIP6, nh=6, plen=12) / Raw(b"\0" * 12)),
        Reason.DROP_TRUNCATED,
    ),
]


@pytest.mark.parametrize(("name", "frame", "reason"), DROP_CASES, ids=[c[0] for c in DROP_CASES])
def test_malformed_to_a_vip_is_dropped_and_counted(
    lb6: Loaded6, name: str, frame: bytes, reason: Reason
) -> None:
    before = lb6.reason(reason)
    assert lb6.run(frame).verdict == "XDP_DROP", name
    assert lb6.reason(reason) == before + 1


def test_too_big_once_encapsulated_gets_packet_too_big(lb6: Loaded6) -> None:
    mtu = 1500  # the veth's, which attach wrote into config.mtu
    fits = udp6(size=mtu - 40 - 40 - 8)
    assert lb6.run(fits).verdict == "XDP_TX", "exactly the MTU once encapsulated: sent"
    frame = udp6(size=mtu - 40 - 40 - 8 + 1)
    before = lb6.reason(Reason.ICMP6_TOO_BIG)
    res = lb6.run(frame)
    assert res.verdict == "XDP_TX"
    assert lb6.reason(Reason.ICMP6_TOO_BIG) == before + 1
    out = Ether(res.data)
    assert out.dst == CLIENT_MAC and out.src == LB_MAC and out.type == 0x86DD
    ip = out[IPv6]
    assert (ip.src, ip.dst, ip.nh, ip.hlim, ip.plen) == (VIP6, CLIENT6, 58, 64, 56)
    ptb = out[ICMPv6PacketTooBig]
    assert (ptb.type, ptb.code, ptb.mtu) == (2, 0, mtu - 40)
    assert bytes(ptb.payload) == frame[14 : 14 + 48], "quotes the IPv6 header and 8 bytes"
    icmp = bytearray(res.data[54:])
    sent = int.from_bytes(icmp[2:4], "big")
    icmp[2:4] = b"\0\0"
    assert in6_chksum(58, ip, bytes(icmp)) == sent, "ICMPv6 checksum must verify"
    assert len(res.data) == 14 + 40 + 56


def test_flows_keep_their_backend_across_a_backend_change(lb6: Loaded6) -> None:
    """Flows stored before a reload that adds a backend stay where they
    were; new flows reach the new backend; a removed backend's flows move."""
    bal = lb6.balancer
    key = ServiceKey("fd00::8", 7000, 17)
    bal.load([key], B6[:2])

    def to(sport: int) -> str:
        frame = udp6("fd00::8", 7000, sport)
        return encapsulated(lb6, frame, lb6.run(frame).data)

    first = {s: to(s) for s in range(5000, 5200)}
    bal.load([key], B6)
    assert {s: to(s) for s in first} == first, "established flows must keep their backend"
    assert "fd00::13" in {to(s) for s in range(6000, 6300)}, (
        "the ring must now reach the new backend"
    )
    bal.load([key], B6[1:])
    moved = {s: to(s) for s in first}
    assert "fd00::11" not in moved.values()
    assert all(moved[s] == b for s, b in first.items() if b == "fd00::12")
