"""A flood of one-packet IPv4 flows (spoofed sources, a scan) stores no
entry, through BPF_PROG_TEST_RUN on the real program: a first packet that
meets another flow's pending mark of its 7-bit fingerprint (one in 127) is
told apart by the 16-bit check in that mark's pick (flow_check4) and is a
first packet too.  Before the check, such floods stored about one entry in
a hundred packets (x17 HIGH-1), and the table filled with entries of flows
that never sent again.  The IPv6 twin: test_flows6_pending.py."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from l4lb_tui import bpfsys
from l4lb_tui.abi import FlowStat
from l4lb_tui.balancer import Balancer
from l4lb_tui.services import parse_service
from tests.dataplane.conftest import BACKENDS, attached
from tests.dataplane.test_packets import udp_to

pytestmark = pytest.mark.kernel

SLOTS = 4096


@pytest.fixture
def bed() -> Iterator[tuple[Balancer, int]]:
    with attached("d17f", flows=SLOTS) as (bal, fd):
        bal.load(parse_service("10.0.0.4:9000/udp"), BACKENDS)
        yield bal, fd


def _flows(bal: Balancer) -> dict[FlowStat, int]:
    return dict(bal.counters().flows)


def test_a_flood_of_one_packet_flows_stores_nothing(bed: tuple[Balancer, int]) -> None:
    bal, fd = bed
    frame = bytearray(udp_to(sport=7))
    base = int(ipaddress.IPv4Address("10.128.0.0"))
    before = _flows(bal)
    for i in range(4 * SLOTS):
        frame[26:30] = (base + i).to_bytes(4, "big")  # the source; UDP's checksum is not read
        assert bpfsys.test_run(fd, bytes(frame)).verdict == "XDP_TX"
    after = _flows(bal)
    moved = {s.name.lower(): after[s] - before[s] for s in FlowStat if after[s] != before[s]}
    assert moved == {"new": 4 * SLOTS}, "a flood's packet is never a marked flow's second"
    table = bal.counters().occupancy
    assert table is not None and table.entries == 0, table


def test_a_flow_still_finds_its_own_mark(bed: tuple[Balancer, int]) -> None:
    bal, fd = bed
    before = _flows(bal)
    for sport in range(30000, 30050):  # few in 4k slots: no bucket gets a third
        for _ in range(3):
            assert bpfsys.test_run(fd, udp_to(sport=sport)).verdict == "XDP_TX"
    after = _flows(bal)
    got = {s: after[s] - before[s] for s in (FlowStat.NEW, FlowStat.STORED, FlowStat.HIT)}
    assert got == {FlowStat.NEW: 50, FlowStat.STORED: 50, FlowStat.HIT: 50}
