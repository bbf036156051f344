"""Path-MTU discovery through the balancer, through BPF_PROG_TEST_RUN on the
real program (t20 HIGH-1): a router's ICMP "fragmentation needed" (IPv6:
Packet Too Big) about a backend's reply reaches the balancer, since the
reply's source is the VIP; it goes on, whole and encapsulated, to the
backend of the flow it quotes (its flow-table entry, else its ring pick,
what the flow's own packets get), changes no entry, and is counted
`icmp_to_backend`.  Any other ICMP to a VIP goes to the kernel as before."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6PacketTooBig, IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from l4lb_tui import bpfsys
from l4lb_tui.abi import Reason, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination
from tests.conftest import veth_netns
from tests.dataplane.conftest import BACKENDS, SADDR
from tests.dataplane.fastframes import outer_dst
from tests.dataplane.test_packets6 import B6, SADDR6

pytestmark = pytest.mark.kernel

ETH = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:04")
ROUTER, ROUTER6 = "10.0.0.9", "fd00::9"


@dataclass(frozen=True)
class Family:
    vip: str
    client: str
    router: str
    ip: type[IP] | type[IPv6]
    backends: tuple[Destination, ...]
    extra: Destination  # added after the flows start: the ring moves, the table holds

    def too_big(self, quoted: Packet) -> bytes:
        """The router's error about `quoted` (a backend's reply), to the VIP."""
        if self.ip is IPv6:
            return bytes(
                ETH / IPv6(src=self.router, dst=self.vip) / ICMPv6PacketTooBig(mtu=1280) / quoted
            )
        return bytes(
            ETH / IP(src=self.router, dst=self.vip) / ICMP(type=3, code=4, nexthopmtu=1280) / quoted
        )

    def reply(self, sport: int, proto: str = "tcp", src: str = "", port: int = 0) -> Packet:
        """A backend's reply to the client's flow from `sport` (DSR: from the
        VIP's service port, or `port`)."""
        port = port or (8080 if proto == "tcp" else 9000)
        l4 = (
            TCP(sport=port, dport=sport, flags="A")
            if proto == "tcp"
            else UDP(sport=port, dport=sport)
        )
        return self.ip(src=src or self.vip, dst=self.client) / l4 / Raw(b"r" * 1200)

    def flow(self, sport: int, proto: str = "tcp", flags: str = "S") -> bytes:
        """The client's packet of that flow."""
        l4 = (
            TCP(sport=sport, dport=8080, flags=flags)
            if proto == "tcp"
            else UDP(sport=sport, dport=9000)
        )
        return bytes(ETH / self.ip(src=self.client, dst=self.vip) / l4)


V4 = Family(
    "10.0.0.4", "10.0.0.2", ROUTER, IP, BACKENDS, Destination("10.0.0.14", "02:00:00:00:00:0e")
)
V6 = Family("fd00::4", "fd00::2", ROUTER6, IPv6, B6, Destination("fd00::14", "02:00:00:00:00:14"))


@dataclass
class Bed:
    bal: Balancer
    fd: int
    fam: Family

    def to(self, frame: bytes) -> str:
        res = bpfsys.test_run(self.fd, frame)
        assert res.verdict == "XDP_TX", res.verdict
        return outer_dst(res.data)

    def sent(self, frame: bytes) -> tuple[str, bytes]:
        """Where `frame` went and the packet inside the outer header."""
        res = bpfsys.test_run(self.fd, frame)
        assert res.verdict == "XDP_TX", res.verdict
        outer = 20 if self.fam.ip is IP else 40
        return outer_dst(res.data), res.data[14 + outer :]

    def reason(self, reason: Reason) -> int:
        return self.bal.counters().reasons[reason][0]

    def flows(self) -> object:
        counters = self.bal.counters()
        return counters.flows6 if self.fam.ip is IPv6 else counters.flows


def _services(fam: Family) -> list[ServiceKey]:
    return [ServiceKey(fam.vip, 8080, 6), ServiceKey(fam.vip, 9000, 17)]


@pytest.fixture(params=[V4, V6], ids=["ipv4", "ipv6"])
def bed(request: pytest.FixtureRequest) -> Iterator[Bed]:
    fam: Family = request.param
    with veth_netns("d20p") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", SADDR, saddr6=SADDR6)
        bal.load(_services(fam), list(fam.backends))
        fd = bpfsys.obj_get(bal.prog_pin)
        try:
            yield Bed(bal, fd, fam)
        finally:
            os.close(fd)
            bal.detach()


def test_an_error_about_a_flow_goes_whole_to_its_backend_after_the_ring_moved(bed: Bed) -> None:
    fam = bed.fam
    ports = range(41000, 41200)
    at = {}
    for s in ports:  # SYN, then ACK: the entry is stored
        at[s] = bed.to(fam.flow(s))
        assert bed.to(fam.flow(s, flags="A")) == at[s]
    for svc in _services(fam):
        bed.bal.add_backend(svc, fam.extra)
    moved = [s for s in range(42000, 42400) if bed.to(fam.flow(s)) == fam.extra.ip]
    assert moved, "the added backend took no new flow: the ring did not move"
    before, flows = bed.reason(Reason.ICMP_TO_BACKEND), bed.flows()
    for s in ports:
        error = fam.too_big(fam.reply(s))
        dst, inner = bed.sent(error)
        assert dst == at[s], f"flow from port {s}: its error went to {dst}, the flow is on {at[s]}"
        assert inner == error[14:], "the error must reach the backend unchanged"
    assert bed.reason(Reason.ICMP_TO_BACKEND) == before + len(ports)
    assert bed.flows() == flows, "an error changed the flow table"


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_an_error_about_a_flow_the_table_lacks_goes_where_the_ring_puts_the_flow(
    bed: Bed, proto: str
) -> None:
    fam, ports = bed.fam, range(43000, 43100)
    flows = bed.flows()
    by_error = {s: bed.to(fam.too_big(fam.reply(s, proto))) for s in ports}
    assert bed.flows() == flows, "an error changed the flow table"
    own = {s: bed.to(fam.flow(s, proto)) for s in ports}
    assert by_error == own


def _not_ours(fam: Family) -> list[tuple[str, bytes]]:
    v6 = fam.ip is IPv6
    echo = ICMPv6EchoRequest() if v6 else ICMP(type=8)
    other_code = ICMPv6PacketTooBig(code=1) if v6 else ICMP(type=3, code=3)
    to_vip = fam.ip(src=fam.router, dst=fam.vip)
    no_ports = (
        IPv6(src=fam.vip, dst=fam.client, nh=6) if v6 else IP(src=fam.vip, dst=fam.client, proto=6)
    )
    return [
        ("echo request", bytes(ETH / to_vip / echo)),
        ("another code", bytes(ETH / to_vip / other_code / fam.reply(40000))),
        ("a quote not from the VIP", fam.too_big(fam.reply(40000, src=fam.router))),
        ("a quote from no service", fam.too_big(fam.reply(40000, port=7777))),
        ("a quote cut before its ports", fam.too_big(no_ports)),
    ]


def test_any_other_icmp_to_a_vip_goes_to_the_kernel(bed: Bed) -> None:
    for name, frame in _not_ours(bed.fam):
        before = bed.reason(Reason.PASS_NOT_TCP_UDP)
        res = bpfsys.test_run(bed.fd, frame)
        assert res.verdict == "XDP_PASS", name
        assert res.data == frame, name
        assert bed.reason(Reason.PASS_NOT_TCP_UDP) == before + 1, name
