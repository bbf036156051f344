"""Packet fixtures through BPF_PROG_TEST_RUN on the real program.

Each case: an input frame, the expected verdict and, for XDP_TX, the expected
output frame, as Katran's tests do.
"""

from __future__ import annotations

import ipaddress
import os

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

from l4lb_tui import abi, bpfsys
from l4lb_tui.abi import Reason
from l4lb_tui.balancer import Balancer
from tests.conftest import veth_netns
from tests.dataplane.conftest import BACKENDS, SADDR, Loaded

pytestmark = pytest.mark.kernel

CLIENT_MAC = "02:00:00:00:00:02"
LB_MAC = "02:00:00:00:00:04"
BY_IP = {b.ip: b for b in BACKENDS}


def eth() -> Ether:
    return Ether(src=CLIENT_MAC, dst=LB_MAC)


def tcp_to(dst: str = "10.0.0.4", dport: int = 8080, sport: int = 40000, **ip: object) -> bytes:
    return bytes(
        eth() / IP(src="10.0.0.2", dst=dst, **ip) / TCP(sport=sport, dport=dport, flags="S")
    )


def udp_to(dst: str = "10.0.0.4", dport: int = 9000, sport: int = 40000, **ip: object) -> bytes:
    return bytes(
        eth() / IP(src="10.0.0.2", dst=dst, **ip) / UDP(sport=sport, dport=dport) / Raw(b"ping")
    )


def assert_encapsulated(lb: Loaded, frame: bytes, out: bytes) -> str:
    """Check every outer field; return the backend the packet went to."""
    outer = Ether(out)
    ip = outer[IP]
    assert ip.dst in BY_IP, f"unknown backend {ip.dst}"
    assert outer.dst == BY_IP[ip.dst].mac
    assert outer.src == lb.ifmac
    assert outer.type == 0x0800
    assert ip.version == 4 and ip.ihl == 5
    assert ip.proto == 4, "outer protocol must be IPIP"
    assert ip.src == SADDR
    assert ip.ttl == 64
    inner_ip = frame[14:]
    inner_len = int.from_bytes(inner_ip[2:4], "big")
    assert ip.len == inner_len + 20
    assert ip.tos == inner_ip[1]
    inner_df = bool(inner_ip[6] & 0x40)
    assert bool(ip.flags.DF) == inner_df
    assert ip.id == (0 if inner_df else int.from_bytes(inner_ip[4:6], "big"))
    assert ip.frag == 0
    header = out[14:34]
    words = sum(int.from_bytes(header[i : i + 2], "big") for i in range(0, 20, 2))
    while words > 0xFFFF:
        words = (words & 0xFFFF) + (words >> 16)
    assert words == 0xFFFF, "outer header checksum must verify"
    assert out[34:] == frame[14:], "inner packet must be the input packet, byte for byte"
    return str(ip.dst)


def test_tcp_to_service_is_encapsulated(lb: Loaded) -> None:
    frame = tcp_to()
    res = lb.run(frame)
    assert res.verdict == "XDP_TX"
    assert_encapsulated(lb, frame, res.data)


def test_udp_to_service_is_encapsulated(lb: Loaded) -> None:
    frame = udp_to()
    res = lb.run(frame)
    assert res.verdict == "XDP_TX"
    assert_encapsulated(lb, frame, res.data)


def test_outer_header_copies_tos_and_keeps_id_without_df(lb: Loaded) -> None:
    frame = udp_to(tos=0xB8, id=4321, flags=0)
    res = lb.run(frame)
    assert res.verdict == "XDP_TX"
    assert_encapsulated(lb, frame, res.data)
    assert Ether(res.data)[IP].id == 4321


def test_any_port_service(lb: Loaded) -> None:
    frame = tcp_to(dst="10.0.0.5", dport=22)
    res = lb.run(frame)
    assert res.verdict == "XDP_TX"
    assert_encapsulated(lb, frame, res.data)


def test_one_flow_one_backend_and_flows_spread(lb: Loaded) -> None:
    first = {assert_encapsulated(lb, f, lb.run(f).data) for f in [tcp_to(sport=41000)] * 20}
    assert len(first) == 1, "one flow must always reach the same backend"
    seen: dict[str, int] = {}
    for sport in range(20000, 20600):
        frame = udp_to(sport=sport)
        backend = assert_encapsulated(lb, frame, lb.run(frame).data)
        seen[backend] = seen.get(backend, 0) + 1
    assert set(seen) == set(BY_IP), f"flows must reach every backend: {seen}"
    assert min(seen.values()) > 600 / 3 * 0.7, f"uneven spread: {seen}"


def test_backend_counters_count_balanced_packets(lb: Loaded) -> None:
    before = lb.counters()
    for sport in range(30000, 30050):
        assert lb.run(udp_to(sport=sport)).verdict == "XDP_TX"
    after = lb.counters()
    sent = sum(after.backends[i][0] - before.backends.get(i, (0, 0))[0] for i in after.backends)
    assert sent == 50


PASS_CASES = [
    (
        "arp",
        bytes(Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="10.0.0.4")),
        Reason.PASS_NOT_IPV4,
    ),
    ("ipv6-not-vip", bytes(eth() / IPv6(dst="fd00::4") / UDP(dport=9000)), Reason.PASS_NOT_VIP),
    (
        "vlan",
        bytes(eth() / Dot1Q(vlan=7) / IP(dst="10.0.0.4") / UDP(dport=9000)),
        Reason.PASS_VLAN,
    ),
    (
        "qinq",
        bytes(eth() / Dot1AD(vlan=7) / Dot1Q(vlan=8) / IP(dst="10.0.0.4") / UDP(dport=9000)),
        Reason.PASS_VLAN,
    ),
    (
        "icmp to VIP",
        bytes(eth() / IP(src="10.0.0.2", dst="10.0.0.4") / ICMP()),
        Reason.PASS_NOT_TCP_UDP,
    ),
    ("other address", tcp_to(dst="10.0.0.99"), Reason.PASS_NOT_VIP),
    ("ssh to the LB itself", tcp_to(dport=22), Reason.PASS_NO_SERVICE),
    ("udp port without service", udp_to(dport=53), Reason.PASS_NO_SERVICE),
    ("tcp on the udp service port", tcp_to(dport=9000), Reason.PASS_NO_SERVICE),
    ("fragment (more fragments)", udp_to(flags="MF"), Reason.PASS_FRAGMENT),
    ("fragment (offset)", udp_to(frag=10), Reason.PASS_FRAGMENT),
    ("ip options (IHL > 5)", udp_to(options=b"\x01\x01\x01\x01"), Reason.PASS_IP_OPTIONS),
]


@pytest.mark.parametrize(("name", "frame", "reason"), PASS_CASES, ids=[c[0] for c in PASS_CASES])
def test_not_balanced_passes_unchanged(lb: Loaded, name: str, frame: bytes, reason: Reason) -> None:
    before = lb.counters().reasons[reason][0]
    res = lb.run(frame)
    assert res.verdict == "XDP_PASS", name
    assert res.data == frame, "passed traffic must be untouched"
    assert lb.counters().reasons[reason][0] == before + 1


def _truncations() -> list[tuple[str, bytes, Reason]]:
    tcp = tcp_to()
    cases = [(f"tcp cut at {n}", tcp[:n], Reason.DROP_TRUNCATED) for n in (14, 20, 33)]
    # Cut inside the TCP header, the IP total length now lies about the frame.
    cases += [(f"tcp cut at {n}", tcp[:n], Reason.DROP_MALFORMED) for n in (40, 53)]
    short = bytearray(tcp[:44])
    short[16:18] = (30).to_bytes(2, "big")  # consistent length, TCP header cut short
    cases.append(("tcp header shorter than 20 bytes", bytes(short), Reason.DROP_TRUNCATED))
    bad_len = bytearray(udp_to())
    bad_len[16:18] = (2000).to_bytes(2, "big")  # total length beyond the frame
    bad_ihl = bytearray(udp_to())
    bad_ihl[14] = 0x43
    return [
        *cases,
        ("total length past the frame", bytes(bad_len), Reason.DROP_MALFORMED),
        ("IHL below 5", bytes(bad_ihl), Reason.DROP_MALFORMED),
    ]


@pytest.mark.parametrize(
    ("name", "frame", "reason"), _truncations(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_truncated_or_malformed_is_dropped_and_counted(
    lb: Loaded, name: str, frame: bytes, reason: Reason
) -> None:
    before = lb.counters().reasons[reason][0]
    res = lb.run(frame)
    assert res.verdict == "XDP_DROP", name
    assert lb.counters().reasons[reason][0] == before + 1


def test_truncated_packet_to_other_host_passes(lb: Loaded) -> None:
    """Not ours to judge: the kernel decides about other hosts' packets."""
    frame = tcp_to(dst="10.0.0.99")[:40]
    res = lb.run(frame)
    assert res.verdict == "XDP_PASS"
    assert res.data == frame


def _ihl_below_5(frame: bytes) -> bytes:
    bad = bytearray(frame)
    bad[14] = 0x43
    return bytes(bad)


def test_the_exact_vip_check_follows_the_services() -> None:
    """`vip_filter` may let another address through (a shared bit): only the
    VIP's marker slot in svc_index makes a malformed packet ours to drop, and
    the marker goes with the VIP's last service."""
    with veth_netns("l4v") as (ns, dev, _):
        _exact_vip_check(ns, dev)


def _exact_vip_check(ns: str, dev: str) -> None:
    twin = next(  # an address with 10.0.0.4's filter bit
        ip
        for ip in (str(ipaddress.IPv4Address(0x0A000000 + i)) for i in range(1, 1 << 24))
        if ip != "10.0.0.4" and abi.vip_filter_bit(ip) == abi.vip_filter_bit("10.0.0.4")
    )
    bal = Balancer(dev, netns=ns)
    bal.attach("driver", SADDR)
    udp = abi.ServiceKey("10.0.0.4", 9000, 17)
    bal.load([udp], BACKENDS)
    fd = bpfsys.obj_get(bal.prog_pin)
    try:

        def reason_of(frame: bytes) -> tuple[str, Reason]:
            before = bal.counters().reasons
            verdict = bpfsys.test_run(fd, frame).verdict
            after = bal.counters().reasons
            (moved,) = [r for r in Reason if after[r][0] != before[r][0]]
            return verdict, moved

        assert reason_of(_ihl_below_5(udp_to())) == ("XDP_DROP", Reason.DROP_MALFORMED)
        assert reason_of(_ihl_below_5(udp_to(dst=twin))) == ("XDP_PASS", Reason.PASS_NOT_VIP)
        assert reason_of(udp_to(dst=twin)) == ("XDP_PASS", Reason.PASS_NOT_VIP)
        assert reason_of(udp_to(dport=53)) == ("XDP_PASS", Reason.PASS_NO_SERVICE)
        # The twin becomes a VIP, 10.0.0.4 stops being one: the shared bit
        # stays set, so only the markers tell them apart.
        bal.load([abi.ServiceKey(twin, 9000, 17)], BACKENDS)
        bal.remove_service(udp)
        assert reason_of(_ihl_below_5(udp_to())) == ("XDP_PASS", Reason.PASS_NOT_VIP)
        assert reason_of(_ihl_below_5(udp_to(dst=twin))) == ("XDP_DROP", Reason.DROP_MALFORMED)
    finally:
        os.close(fd)
        bal.detach()
