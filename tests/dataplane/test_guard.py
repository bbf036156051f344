"""The mode-switch guard (bpf/l4lb_guard.c) through BPF_PROG_TEST_RUN.

It must drop exactly the packets the balancer balances, reading the
balancer's own maps, and leave everything else to the next TC program or
filter (TC_ACT_UNSPEC, not TC_ACT_OK).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether

from l4lb_tui import bpfsys
from l4lb_tui.balancer import Balancer
from l4lb_tui.control.modeswitch import GUARD_OBJ, Guard
from l4lb_tui.paths import bpf_object
from tests.conftest import veth_netns
from tests.dataplane.conftest import BACKENDS, SADDR, Loaded
from tests.dataplane.test_packets import CLIENT_MAC, eth, tcp_to, udp_to

pytestmark = pytest.mark.kernel

TC_ACT_SHOT = 2
TC_ACT_UNSPEC = 0xFFFFFFFF  # -1 as the kernel hands it back (u32)


class LoadedGuard:
    def __init__(self, guard: Guard, fd: int) -> None:
        self.guard = guard
        self.fd = fd

    def verdict(self, frame: bytes) -> int:
        return bpfsys.test_run(self.fd, frame).retval


def _guard_of(bal: Balancer) -> Guard:
    return Guard(bal.bpftool, bal.netlink, bal.ifname, bal.pin_dir, bpf_object(GUARD_OBJ))


@pytest.fixture(scope="module")
def guard(lb: Loaded) -> Iterator[LoadedGuard]:
    made = _guard_of(lb.balancer)
    fd = made.load()
    try:
        yield LoadedGuard(made, fd)
    finally:
        os.close(fd)
        made.remove()


DROPPED = [
    ("tcp SYN to the tcp service", tcp_to()),
    ("tcp ACK to the tcp service", bytes(eth() / IP(dst="10.0.0.4") / TCP(dport=8080, flags="A"))),
    ("udp to the udp service", udp_to()),
    ("any-port service", tcp_to(dst="10.0.0.5", dport=22)),
]
PASSED = [
    ("arp", bytes(Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="10.0.0.4"))),
    ("ipv6", bytes(eth() / IPv6(dst="fd00::4") / UDP(dport=9000))),
    ("vlan", bytes(eth() / Dot1Q(vlan=7) / IP(dst="10.0.0.4") / UDP(dport=9000))),
    ("icmp to VIP", bytes(eth() / IP(src="10.0.0.2", dst="10.0.0.4") / ICMP())),
    ("other address", tcp_to(dst="10.0.0.99")),
    ("ssh to the LB itself", tcp_to(dport=22)),
    ("udp port without service", udp_to(dport=53)),
    ("tcp on the udp service port", tcp_to(dport=9000)),
    ("fragment (more fragments)", udp_to(flags="MF")),
    ("fragment (offset)", udp_to(frag=10)),
    ("ip options (IHL > 5)", udp_to(options=b"\x01\x01\x01\x01")),
]


@pytest.mark.parametrize(("name", "frame"), DROPPED, ids=[c[0] for c in DROPPED])
def test_service_traffic_is_dropped(guard: LoadedGuard, name: str, frame: bytes) -> None:
    assert guard.verdict(frame) == TC_ACT_SHOT, name


@pytest.mark.parametrize(("name", "frame"), PASSED, ids=[c[0] for c in PASSED])
def test_other_traffic_goes_on(guard: LoadedGuard, name: str, frame: bytes) -> None:
    # UNSPEC: on to the operator's own TC programs and filters, if any.
    assert guard.verdict(frame) == TC_ACT_UNSPEC, name


def test_guard_drops_what_the_balancer_balances(lb: Loaded, guard: LoadedGuard) -> None:
    """Random flows to service and other ports and addresses: the guard
    drops a frame exactly when the balancer sends it to a backend."""
    rng = random.Random(11)
    frames = []
    for _ in range(400):
        dst = rng.choice(["10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.99"])
        dport = rng.choice([22, 53, 80, 8080, 9000, rng.randrange(1, 65536)])
        make = rng.choice([tcp_to, udp_to])
        frames.append(make(dst=dst, dport=dport, sport=rng.randrange(1024, 65536)))
    mismatched = []
    balanced = 0
    for frame in frames:
        sent = lb.run(frame).verdict == "XDP_TX"
        balanced += sent
        if sent != (guard.verdict(frame) == TC_ACT_SHOT):
            mismatched.append((Ether(frame).summary(), sent))
    assert not mismatched, mismatched[:5]
    assert 50 < balanced < 350, "the frames must mix service and other traffic"


def test_every_drop_is_counted(lb: Loaded) -> None:
    made = _guard_of(lb.balancer)
    fd = made.load()
    try:
        for sport in range(40000, 40007):
            assert bpfsys.test_run(fd, udp_to(sport=sport)).retval == TC_ACT_SHOT
        assert bpfsys.test_run(fd, udp_to(dport=53)).retval == TC_ACT_UNSPEC
    finally:
        os.close(fd)
        held = made.remove()
    assert held is not None
    assert (held.pkts, held.bytes) == (7, 7 * len(udp_to()))
    assert 0 < held.first_ns <= held.last_ns
    assert not made.dir.exists(), "the guard's pins must go with it"


def test_catch_all_guard_drops_all_tcp_and_udp() -> None:
    """Without services the balancer takes every TCP and UDP packet (the
    seed's behaviour, config flag): so does the guard."""
    with veth_netns("l4g") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", SADDR)
        bal.load([], BACKENDS)
        made = _guard_of(bal)
        fd = made.load()
        try:
            assert bpfsys.test_run(fd, tcp_to(dst="10.9.9.9", dport=22)).retval == TC_ACT_SHOT
            assert bpfsys.test_run(fd, udp_to(dst="192.0.2.1", dport=53)).retval == TC_ACT_SHOT
            icmp = bytes(eth() / IP(dst="10.0.0.4") / ICMP())
            assert bpfsys.test_run(fd, icmp).retval == TC_ACT_UNSPEC
        finally:
            os.close(fd)
            made.remove()
            bal.detach()
