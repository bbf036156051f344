"""The v6 flow table's first-packet rule (t17 HIGH-3), through
BPF_PROG_TEST_RUN on the real program: a flow's first packet writes its
entry pending, its second confirms it (STORED, following the first's pick),
a pending entry gives way to any other flow's first packet, so a flood of
one-packet v6 flows leaves established entries, and flows that start after
it, tracked (IPv4's rule: test_flow_states.py, test_model.py)."""

from __future__ import annotations

import ipaddress
import itertools
import os
from collections.abc import Iterator

import pytest

from l4lb_tui import abi, bpfsys
from l4lb_tui.abi import FlowStat, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.services import parse_service
from tests.conftest import veth_netns
from tests.dataplane.conftest import SADDR
from tests.dataplane.fastframes import outer_dst, with_source
from tests.dataplane.test_packets6 import B6, CLIENT6, SADDR6, tcp6, udp6

pytestmark = pytest.mark.kernel

UDP_SVC = parse_service("[fd00::4]:9000/udp")
TCP_SVC = parse_service("[fd00::4]:8080/tcp")
SLOTS6 = 1 << 16


class Bed:
    def __init__(self, bal: Balancer, fd: int) -> None:
        self.bal, self.fd = bal, fd

    def to(self, frame: bytes) -> str:
        res = bpfsys.test_run(self.fd, frame)
        assert res.verdict == "XDP_TX", res.verdict
        return outer_dst(res.data)

    def flows(self) -> dict[FlowStat, int]:
        return dict(self.bal.counters().flows6)


@pytest.fixture
def bed() -> Iterator[Bed]:
    with veth_netns("d17p") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", SADDR, saddr6=SADDR6)
        bal.load(UDP_SVC + TCP_SVC, B6)
        fd = bpfsys.obj_get(bal.prog_pin)
        try:
            yield Bed(bal, fd)
        finally:
            os.close(fd)
            bal.detach()


def _delta(before: dict[FlowStat, int], after: dict[FlowStat, int]) -> dict[str, int]:
    return {s.name.lower(): after[s] - before[s] for s in FlowStat if after[s] != before[s]}


def test_new_then_stored_then_hit(bed: Bed) -> None:
    counts = [bed.flows()]
    for _ in range(3):
        bed.to(udp6(sport=43210))
        counts.append(bed.flows())
    assert [_delta(a, b) for a, b in itertools.pairwise(counts)] == [
        {"new": 1},
        {"stored": 1},
        {"hit": 1},
    ]


def _weights(bed: Bed, svc: list[ServiceKey], weights: tuple[int, ...]) -> None:
    for d, w in zip(B6, weights, strict=True):
        bed.bal.set_weight(svc[0], d.ip, w)


def test_second_packet_follows_the_first_across_a_ring_change(bed: Bed) -> None:
    """The first packets' backends, then a weight change that moves most of
    the ring: every flow's second packet goes where its first went."""
    firsts = {s: bed.to(tcp6(sport=s, flags="S")) for s in range(2000, 2200)}
    _weights(bed, TCP_SVC, (1, 5, 0))
    before = bed.flows()
    seconds = {s: bed.to(tcp6(sport=s, flags="A")) for s in firsts}
    assert seconds == firsts
    assert _delta(before, bed.flows()) == {"stored": 200}
    # The ring no longer holds fd00::13 (weight 0): its flows followed the pick.
    assert sum(b == B6[2].ip for b in firsts.values()) > 20
    assert B6[2].ip not in {bed.to(tcp6(sport=s, flags="S")) for s in range(5000, 5200)}


def test_a_repeated_syn_to_a_drained_pick_goes_by_the_ring(bed: Bed) -> None:
    firsts = {s: bed.to(tcp6(sport=s, flags="S")) for s in range(3000, 3100)}
    bed.bal.set_drain(TCP_SVC[0], B6[0].ip, True)
    again = {s: bed.to(tcp6(sport=s, flags="S")) for s in firsts}
    assert B6[0].ip not in again.values()
    assert all(again[s] == b for s, b in firsts.items() if b != B6[0].ip)


def test_a_removed_pick_is_not_followed(bed: Bed) -> None:
    firsts = {s: bed.to(udp6(sport=s)) for s in range(4000, 4100)}
    bed.bal.remove_backend(UDP_SVC[0], B6[1].ip)
    seconds = {s: bed.to(udp6(sport=s)) for s in firsts}
    assert B6[1].ip not in seconds.values()
    assert all(seconds[s] == b for s, b in firsts.items() if b != B6[1].ip)


def _flood(bed: Bed, count: int) -> None:
    """`count` one-packet UDP flows from distinct sources (a scan or a
    spoofed flood): one frame, its source address rewritten in place."""
    frame = bytearray(udp6(sport=7))
    base = int(ipaddress.IPv6Address("fd00:9::"))
    for i in range(count):
        frame[22:38] = (base + i).to_bytes(16, "big")
        assert bpfsys.test_run(bed.fd, bytes(frame)).verdict == "XDP_TX"


def test_a_flood_of_one_packet_flows_leaves_established_flows_tracked(bed: Bed) -> None:
    """Established v6 flows, then twice the table's size in one-packet
    flows, then flows that start after the flood: a weight change moves none
    of either, and every one of their packets hits its entry."""
    early = {s: bed.to(udp6(sport=s)) for s in range(10000, 10100)}
    assert {s: bed.to(udp6(sport=s)) for s in early} == early
    _flood(bed, 2 * SLOTS6)
    late = {s: bed.to(udp6(sport=s)) for s in range(20000, 20100)}
    before = bed.flows()
    assert {s: bed.to(udp6(sport=s)) for s in late} == late
    assert _delta(before, bed.flows()) == {"stored": 100}, "flows after the flood are stored"
    _weights(bed, UDP_SVC, (5, 1, 0))
    before = bed.flows()
    assert {s: bed.to(udp6(sport=s)) for s in early} == early
    assert {s: bed.to(udp6(sport=s)) for s in late} == late
    assert _delta(before, bed.flows()) == {"hit": 200}


def test_a_pending_entry_gives_way_and_its_flow_starts_again(bed: Bed) -> None:
    """Three times the table's size in one-packet flows: every one finds a
    way (pending ways are free to the next first packet), none is untracked."""
    before = bed.flows()
    _flood(bed, 3 * SLOTS6)
    assert _delta(before, bed.flows()) == {"new": 3 * SLOTS6}, "pending ways are free"


def _stored_after(expired_first: bool) -> int:
    """Flows stored of 2,048 new ones (both first packets, then both second
    ones) in a 4k IPv6 table, fresh or holding 2,048 entries all expired."""
    with veth_netns("d17e") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", SADDR, saddr6=SADDR6, flows6=4096)
        bal.load(UDP_SVC + TCP_SVC, B6)
        fd = bpfsys.obj_get(bal.prog_pin)
        try:
            bed, one = Bed(bal, fd), udp6()
            if expired_first:
                for s in range(10000, 12048):
                    bed.to(with_source(one, CLIENT6, s))
                    bed.to(with_source(one, CLIENT6, s))
                _expire_all(bal)
            before = bed.flows()
            for s in [*range(30000, 32048), *range(30000, 32048)]:
                bed.to(with_source(one, CLIENT6, s))
            return _delta(before, bed.flows()).get("stored", 0)
        finally:
            os.close(fd)
            bal.detach()


def _expire_all(bal: Balancer) -> None:
    """Every stored entry's last packet made far older than UDP's 300 s."""
    dead = (bpfsys.jiffies32() - (1 << 30)) & 0xFFFFFFFF
    with bpfsys.opened(bpfsys.obj_get(bal.map_pin("flows6"))) as fd:
        for slot in range(4096):
            raw = bytearray(bpfsys.lookup(fd, abi.u32(slot), 64))
            if any(raw[:16]):
                raw[48:52] = dead.to_bytes(4, "little")  # struct flow6's `seen`
                bpfsys.update(fd, abi.u32(slot), bytes(raw))


def test_flows_beside_expired_entries_are_stored_as_in_a_fresh_table() -> None:
    """t18 HIGH-3: after a burst expired, a bucket's new flows took turns
    marking its free way beside a dead entry, and fewer were stored than in
    a fresh table; an expired way is now taken before another flow's mark."""
    fresh = _stored_after(False)
    assert fresh > 1500  # about 2 of a bucket's Poisson(1) flows
    assert _stored_after(True) == fresh
