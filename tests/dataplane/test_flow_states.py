"""Truth tables of the flow table's bit tricks and TCP states, from the data
plane's own C (compiled for the host), and the states as the real program
leaves them in the table."""

from __future__ import annotations

import itertools
import os
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from l4lb_tui import abi, bpfsys
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination
from tests.conftest import veth_netns

ROOT = Path(__file__).resolve().parents[2]
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
EST, SYN_SEEN, FIN_SEEN, RST_SEEN = (int(s) for s in list(abi.FlowState)[:4])


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[int, ...]]]:
    exe = tmp_path_factory.mktemp("truth") / "flow_truth"
    arch = subprocess.run(
        ["gcc", "-print-multiarch"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(  # noqa: S603
        ["clang", "-O1", "-w", f"-I/usr/include/{arch}", f"-I{ROOT / 'bpf'}",
         str(Path(__file__).with_name("flow_truth.c")), "-o", str(exe)],
        check=True,
    )  # fmt: skip
    printed = subprocess.run([str(exe)], capture_output=True, text=True, check=True)  # noqa: S603
    out: dict[str, list[tuple[int, ...]]] = {}
    for line in printed.stdout.splitlines():
        kind, *nums = line.split()
        out.setdefault(kind, []).append(tuple(int(n) for n in nums))
    return out


def kind(t: int) -> str:
    return "empty" if t == 0 else "pending" if t & 0x80 else "stored"


def test_tag_tricks(truth: dict[str, list[tuple[int, ...]]]) -> None:
    assert len(truth["tag"]) == 256
    for t, stored, empty in truth["tag"]:
        assert (stored, empty) == (int(kind(t) == "stored"), int(kind(t) == "empty")), t


def test_fingerprints_are_seven_bits_and_never_zero(
    truth: dict[str, list[tuple[int, ...]]],
) -> None:
    assert [fp for _, fp in truth["fp"]] == [1, *range(1, 128)]


def test_the_flows_of_one_bucket_have_every_fingerprint_at_every_size(
    truth: dict[str, list[tuple[int, ...]]],
) -> None:
    # From 2^21 slots on, fixed hash bits would fall inside the bucket's:
    # its flows would share a fingerprint and every tag would match.
    sizes = sorted({log2 for log2, *_ in truth["fpsize"]})
    assert sizes == list(range(12, 27))
    for log2 in sizes:
        rows = [r for r in truth["fpsize"] if r[0] == log2]
        assert len({bucket for _, _, bucket, _ in rows}) == 1, log2
        assert [fp for *_, fp in rows] == [1, *range(1, 128)], log2


def test_a_pick_names_its_backend_and_is_trusted_for_one_epoch_more(
    truth: dict[str, list[tuple[int, ...]]],
) -> None:
    """Epochs are 2^15 jiffies, 4 bits of them wrapping: a pick made in
    epoch e is trusted in e and e + 1, whatever the wrap."""
    assert len(truth["pick"]) == 512 * 128
    for now, made, pick, fresh in truth["pick"]:
        assert pick & 0xFFF == 7 and pick >> 12 == (made >> 15) & 0xF
        assert fresh == int(((now >> 15) - (made >> 15)) % 16 <= 1), (now, made)


def test_a_first_packet_takes_an_empty_way_then_a_pending_one(
    truth: dict[str, list[tuple[int, ...]]],
) -> None:
    for t0, t1, way in truth["way"]:
        k0, k1 = kind(t0), kind(t1)
        want = 0 if k0 == "empty" else 1 if k1 == "empty" else 0 if k0 == "pending" else 1
        assert way == want, (t0, t1)


def expected_state(state: int, flags: int) -> int:
    """IPVS-like, one direction: RST and FIN shorten and stay; a SYN-stored
    entry is established by the next packet without SYN."""
    if flags & RST:
        return RST_SEEN
    if state == RST_SEEN:
        return state
    if flags & FIN:
        return FIN_SEEN
    if state == SYN_SEEN and not flags & SYN:
        return EST
    return state


def test_tcp_states(truth: dict[str, list[tuple[int, ...]]]) -> None:
    assert len(truth["state"]) == len(abi.FlowState) * 64
    for state, flags, got in truth["state"]:
        assert got == expected_state(state, flags), (state, flags)


# -- in the kernel ------------------------------------------------------------

SVC = abi.ServiceKey("10.0.0.4", 8080, abi.PROTO_TCP)
UDP_SVC = abi.ServiceKey("10.0.0.4", 9000, abi.PROTO_UDP)
BACKENDS = [Destination(f"10.2.0.{i}", f"02:00:00:02:00:{i:02x}") for i in range(1, 5)]


def tcp(sport: int, flags: int) -> bytes:
    return bytes(
        Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:04")
        / IP(src="10.0.0.2", dst=SVC.vip)
        / TCP(sport=sport, dport=SVC.port, flags=flags)
    )


def flow_hash(sport: int, proto: int = 6, dport: int = SVC.port) -> int:
    """flow_hash of l4lb_parse.h for a flow from 10.0.0.2 to the VIP: words
    as the program loads them."""
    m = 0xFFFFFFFF
    saddr = int.from_bytes(bytes([10, 0, 0, 2]), "little")
    daddr = int.from_bytes(bytes([10, 0, 0, 4]), "little")
    ports = int.from_bytes(struct.pack("!HH", sport, dport), "little")
    h = (saddr * 0x9E3779B1 ^ ports * 0x85EBCA6B ^ daddr * 0xC2B2AE35 ^ proto) & m
    return ((h ^ (h >> 15)) * 0x2C1B3C6D) & m


def entry_state(flows_fd: int, sport: int) -> int | None:
    log2 = bpfsys.map_info(flows_fd).max_entries.bit_length() - 1  # the size chosen at attach
    bucket = (flow_hash(sport) >> (32 - log2)) & ~1
    for slot in (bucket, bucket + 1):
        raw = bpfsys.lookup(flows_fd, abi.u32(slot), 32)
        if raw[8:10] == sport.to_bytes(2, "big") and raw[12] == 6:
            return raw[13]
    return None


@pytest.fixture(scope="module")
def lb() -> Iterator[tuple[Balancer, int, int]]:
    with veth_netns("l4s") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver")
        bal.load([SVC, UDP_SVC], BACKENDS)
        fd = bpfsys.obj_get(bal.prog_pin)
        flows = bpfsys.obj_get(bal.map_pin("flows"))
        try:
            yield bal, fd, flows
        finally:
            os.close(fd)
            os.close(flows)
            bal.detach()


STATE_CASES = [
    ([SYN, ACK], EST),
    ([SYN, SYN], SYN_SEEN),  # a retransmitted SYN stores the entry
    ([SYN, SYN, ACK], EST),
    ([SYN, ACK, ACK | FIN], FIN_SEEN),
    ([SYN, ACK, ACK | FIN, ACK], FIN_SEEN),  # the last ACK of a close keeps it short
    ([SYN, ACK, RST], RST_SEEN),
    ([SYN, ACK, ACK | FIN, RST | ACK], RST_SEEN),
    ([ACK, ACK], EST),  # a flow met mid-way (after a restart) is established
    ([SYN], None),  # one packet only marks its tag
]


@pytest.mark.kernel
@pytest.mark.parametrize(("case", "packets", "state"), [(i, *c) for i, c in enumerate(STATE_CASES)])
def test_the_program_keeps_tcp_states(
    lb: tuple[Balancer, int, int], case: int, packets: list[int], state: int | None
) -> None:
    _, fd, flows = lb
    sport = 20000 + case
    for flags in packets:
        assert bpfsys.test_run(fd, tcp(sport, flags)).verdict == "XDP_TX"
    assert entry_state(flows, sport) == state


@pytest.mark.kernel
def test_a_syn_on_an_established_five_tuple_takes_the_slot_over(
    lb: tuple[Balancer, int, int],
) -> None:
    bal, fd, flows = lb
    before = bal.counters().flows[abi.FlowStat.REUSED]
    for flags in (SYN, ACK, ACK, RST):
        bpfsys.test_run(fd, tcp(41000, flags))
    bpfsys.test_run(fd, tcp(41000, SYN))
    assert entry_state(flows, 41000) == SYN_SEEN
    assert bal.counters().flows[abi.FlowStat.REUSED] == before + 1


def udp(sport: int) -> bytes:
    return bytes(
        Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:04")
        / IP(src="10.0.0.2", dst=UDP_SVC.vip)
        / UDP(sport=sport, dport=UDP_SVC.port)
        / Raw(b"q")
    )


def sent_to(fd: int, frame: bytes) -> str:
    res = bpfsys.test_run(fd, frame)
    assert res.verdict == "XDP_TX"
    return str(Ether(res.data)[IP].dst)


def age_pick(bal: Balancer, sport: int, epochs: int) -> None:
    """Make the pending pick of UDP flow `sport` `epochs` epochs older."""
    log2 = bal.flow_slots().bit_length() - 1  # the size chosen at attach
    bucket = (flow_hash(sport, 17, UDP_SVC.port) >> (32 - log2)) & ~1
    tags = bpfsys.obj_get(bal.map_pin("flow_tags"))
    picks = bpfsys.obj_get(bal.map_pin("flow_picks"))
    try:
        line = bpfsys.lookup(tags, abi.u32(bucket // 64), 64)
        way = next(w for w in (0, 1) if line[(bucket % 64) + w] & 0x80)
        slot = bucket + way
        per = abi.FLOW_PICKS_PER_ENTRY
        entry = bytearray(bpfsys.lookup(picks, abi.u32(slot // per), 64))
        (pick,) = struct.unpack_from("<H", entry, (slot % per) * 4)  # the low half: the pick
        older = (pick & 0xFFF) | ((((pick >> 12) - epochs) & 0xF) << 12)
        struct.pack_into("<H", entry, (slot % per) * 4, older)
    finally:
        os.close(tags)
        os.close(picks)
    bal.bpftool.map_update(bal.map_pin("flow_picks"), abi.u32(slot // per), bytes(entry))


@pytest.mark.kernel
@pytest.mark.parametrize(("epochs", "follows"), [(0, True), (3, False)])
def test_a_pick_carries_a_flow_only_to_its_next_packet_soon_after(
    lb: tuple[Balancer, int, int], epochs: int, follows: bool
) -> None:
    """A UDP flow seen once goes on where its first packet went if its second
    comes soon (a change between them moves nothing); one back after a long
    pause is balanced afresh (no longer to a backend drained meanwhile).
    (Ages 0 and 3: an epoch boundary crossed during the test moves them to
    1 and 4, on the same side of the rule.)"""
    bal, fd, _ = lb
    bal.load([SVC, UDP_SVC], BACKENDS)
    sport = 30000 + epochs * 100
    first = {p: sent_to(fd, udp(p)) for p in range(sport, sport + 60)}
    victim = BACKENDS[0].ip
    mine = [p for p, b in first.items() if b == victim]
    assert mine
    bal.set_drain(UDP_SVC, victim, True)
    for p in mine:
        age_pick(bal, p, epochs)
        assert (sent_to(fd, udp(p)) == victim) is follows


@pytest.mark.kernel
def test_a_new_flow_takes_an_expired_way_before_another_flows_mark() -> None:
    """t18 HIGH-3: after a burst expired, two new flows of a bucket whose
    other way held a dead entry took turns marking the free way, and neither
    was ever stored.  The third flow now takes the expired way: both store."""
    with veth_netns("l4x") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", flows=4096)
        bal.load([SVC, UDP_SVC], BACKENDS)
        fd = bpfsys.obj_get(bal.prog_pin)
        flows = bpfsys.obj_get(bal.map_pin("flows"))
        try:

            def bucket(sport: int) -> int:  # 4,096 slots: the hash's top 12 bits
                return (flow_hash(sport, 17, UDP_SVC.port) >> 20) & ~1

            a = 40000
            b, c = itertools.islice((p for p in range(a + 1, 65536) if bucket(p) == bucket(a)), 2)
            slot = bucket(a)
            for _ in range(2):  # a: stored in the bucket's first way
                sent_to(fd, udp(a))
            raw = bytearray(bpfsys.lookup(flows, abi.u32(slot), 32))
            assert raw[8:10] == a.to_bytes(2, "big")
            dead = (bpfsys.jiffies32() - (1 << 30)) & 0xFFFFFFFF  # far past UDP's 300 s
            raw[24:28] = dead.to_bytes(4, "little")
            bal.bpftool.map_update(bal.map_pin("flows"), abi.u32(slot), bytes(raw))
            before = bal.counters().flows
            for p in (b, c, b, c):
                sent_to(fd, udp(p))
            after = bal.counters().flows
            assert after[abi.FlowStat.NEW] - before[abi.FlowStat.NEW] == 2
            assert after[abi.FlowStat.STORED] - before[abi.FlowStat.STORED] == 2
            held = {bpfsys.lookup(flows, abi.u32(s), 32)[8:10] for s in (slot, slot + 1)}
            assert held == {b.to_bytes(2, "big"), c.to_bytes(2, "big")}
        finally:
            os.close(fd)
            os.close(flows)
            bal.detach()
