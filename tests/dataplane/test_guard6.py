"""The mode-switch guard (bpf/l4lb_guard.c) on IPv6 packets, through
BPF_PROG_TEST_RUN: it holds back exactly the v6 packets the balancer
balances (svc6, the XDP program's own lookup) and counts them as it counts
IPv4's; everything else goes on (TC_ACT_UNSPEC).  The IPv4 cases:
test_guard.py."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_NS, IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import Ether

from l4lb_tui import bpfsys
from l4lb_tui.balancer import Balancer
from l4lb_tui.control.modeswitch import GUARD_OBJ, Guard
from l4lb_tui.paths import bpf_object
from l4lb_tui.services import parse_service
from tests.conftest import veth_netns
from tests.dataplane.conftest import BACKENDS, SADDR
from tests.dataplane.test_packets6 import B6, CLIENT_MAC, SADDR6, VIP6, eth, tcp6, udp6

pytestmark = pytest.mark.kernel

TC_ACT_SHOT = 2
TC_ACT_UNSPEC = 0xFFFFFFFF


@pytest.fixture(scope="module")
def bal6() -> Iterator[tuple[Balancer, int]]:
    """v4 and v6 services, loaded as an operator would; the program's fd."""
    with veth_netns("d17g") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", SADDR, saddr6=SADDR6)
        bal.load(parse_service("10.0.0.4:8080/tcp"), BACKENDS)
        bal.load(parse_service(f"[{VIP6}]:8080/tcp") + parse_service(f"[{VIP6}]:9000/udp"), B6)
        bal.load(parse_service("[fd00::5]/tcp"), B6)
        fd = bpfsys.obj_get(bal.prog_pin)
        try:
            yield bal, fd
        finally:
            os.close(fd)
            bal.detach()


def _guard_of(bal: Balancer) -> Guard:
    return Guard(bal.bpftool, bal.netlink, bal.ifname, bal.pin_dir, bpf_object(GUARD_OBJ))


@pytest.fixture(scope="module")
def guard_fd(bal6: tuple[Balancer, int]) -> Iterator[int]:
    made = _guard_of(bal6[0])
    fd = made.load()
    try:
        yield fd
    finally:
        os.close(fd)
        made.remove()


DROPPED = [
    ("tcp SYN to the v6 tcp service", tcp6()),
    ("tcp ACK to the v6 tcp service", tcp6(flags="A")),
    ("udp to the v6 udp service", udp6()),
    ("v6 any-port service", tcp6(dst="fd00::5", dport=22)),
]
PASSED = [
    ("other v6 address", udp6(dst="fd00::99")),
    ("no service on the port", tcp6(dport=22)),
    ("tcp on the udp port", tcp6(dport=9000)),
    ("udp to the any-port tcp service", udp6(dst="fd00::5", dport=22)),
    ("icmpv6 echo to the VIP", bytes(eth() / IPv6(dst=VIP6) / ICMPv6EchoRequest())),
    (
        "neighbour solicitation",
        bytes(
            Ether(src=CLIENT_MAC, dst="33:33:ff:00:00:04")
            / IPv6(src="fe80::2", dst="ff02::1:ff00:4", hlim=255)
            / ICMPv6ND_NS(tgt=VIP6)
        ),
    ),
    (
        "fragment header",
        bytes(eth() / IPv6(dst=VIP6) / IPv6ExtHdrFragment(m=1) / UDP(dport=9000)),
    ),
]


@pytest.mark.parametrize(("name", "frame"), DROPPED, ids=[c[0] for c in DROPPED])
def test_v6_service_traffic_is_held_back(guard_fd: int, name: str, frame: bytes) -> None:
    assert bpfsys.test_run(guard_fd, frame).retval == TC_ACT_SHOT, name


@pytest.mark.parametrize(("name", "frame"), PASSED, ids=[c[0] for c in PASSED])
def test_other_v6_traffic_goes_on(guard_fd: int, name: str, frame: bytes) -> None:
    assert bpfsys.test_run(guard_fd, frame).retval == TC_ACT_UNSPEC, name


def test_guard_holds_back_what_the_balancer_balances_v6(
    bal6: tuple[Balancer, int], guard_fd: int
) -> None:
    """Random v6 flows to service and other ports and addresses: the guard
    holds a frame back exactly when the balancer sends it to a backend."""
    _, prog_fd = bal6
    rng = random.Random(17)
    mismatched = []
    balanced = 0
    for _ in range(400):
        dst = rng.choice([VIP6, "fd00::5", "fd00::6", "fd00::99"])
        dport = rng.choice([22, 53, 8080, 9000, rng.randrange(1, 65536)])
        make = rng.choice([tcp6, udp6])
        frame = make(dst=dst, dport=dport, sport=rng.randrange(1024, 65536))
        sent = bpfsys.test_run(prog_fd, frame).verdict == "XDP_TX"
        balanced += sent
        if sent != (bpfsys.test_run(guard_fd, frame).retval == TC_ACT_SHOT):
            mismatched.append((Ether(frame).summary(), sent))
    assert not mismatched, mismatched[:5]
    assert 50 < balanced < 350, "the frames must mix service and other traffic"


def test_v6_drops_are_counted_beside_v4(bal6: tuple[Balancer, int]) -> None:
    made = _guard_of(bal6[0])
    fd = made.load()
    v4 = bytes(
        Ether(src=CLIENT_MAC, dst="02:00:00:00:00:04") / IP(dst="10.0.0.4") / TCP(dport=8080)
    )
    try:
        for sport in range(40000, 40005):
            assert bpfsys.test_run(fd, udp6(sport=sport)).retval == TC_ACT_SHOT
        assert bpfsys.test_run(fd, v4).retval == TC_ACT_SHOT
        assert bpfsys.test_run(fd, udp6(dport=53)).retval == TC_ACT_UNSPEC
    finally:
        os.close(fd)
        held = made.remove()
    assert held is not None
    assert (held.pkts, held.bytes) == (6, 5 * len(udp6()) + len(v4))
    assert 0 < held.first_ns <= held.last_ns
