"""Hostile packets: randomised and mutated frames through the real program.

Properties, for every frame:
- never XDP_ABORTED;
- a frame that is not for a service passes unchanged;
- an XDP_TX frame carries a well-formed outer header around the input
  packet, byte for byte;
- every verdict is counted: the reason and backend counters grow by exactly
  the number of frames run, drops by the number of drops.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections import Counter
from collections.abc import Iterable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet, Raw, fuzz

from l4lb_tui.abi import Reason
from tests.dataplane.conftest import BACKENDS, SADDR, Loaded

pytestmark = pytest.mark.kernel

VIPS = {"10.0.0.4", "10.0.0.5"}
BY_IP = {b.ip: b.mac for b in BACKENDS}
# The kernel refuses BPF_PROG_TEST_RUN on XDP frames shorter than an
# Ethernet header, so the shortest frame tried is 14 bytes.
MIN_FRAME = 14
MUTATED_FRAMES = 100_000


def ones_complement_ok(header: bytes) -> bool:
    total = sum(struct.unpack("!10H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def for_a_service_maybe(frame: bytes) -> bool:
    """False only when the frame is certainly not for a service."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return len(frame) >= 14 and frame[12:14] == b"\x08\x00"
    return str(ipaddress.IPv4Address(frame[30:34])) in VIPS


class Checker:
    """Runs frames, checks each verdict, and keeps the totals for counters."""

    def __init__(self, lb: Loaded, counted: bool = True) -> None:
        self.lb = lb
        self.verdicts: Counter[str] = Counter()
        # Reading every counter costs bpftool runs: only for whole batches.
        self.before = lb.counters() if counted else None

    def run(self, frame: bytes) -> None:
        res = self.lb.run(frame)
        self.verdicts[res.verdict] += 1
        assert res.verdict != "XDP_ABORTED", frame.hex()
        if not for_a_service_maybe(frame):
            assert res.verdict == "XDP_PASS", frame.hex()
            assert res.data == frame, frame.hex()
        if res.verdict == "XDP_TX":
            self.check_tx(frame, res.data)

    def check_tx(self, frame: bytes, out: bytes) -> None:
        outer = out[14:34]
        if outer[9] == 1:  # ICMP frag needed back to the client
            assert len(frame) - 14 + 20 > 1500
            return
        assert ones_complement_ok(outer), out.hex()
        assert outer[0] == 0x45 and outer[9] == 4 and outer[8] == 64
        assert str(ipaddress.IPv4Address(outer[12:16])) == SADDR
        dst = str(ipaddress.IPv4Address(outer[16:20]))
        assert dst in BY_IP
        assert out[0:6] == bytes.fromhex(BY_IP[dst].replace(":", ""))
        assert out[34:] == frame[14:], "inner packet must be the input, byte for byte"
        assert int.from_bytes(outer[2:4], "big") == int.from_bytes(frame[16:18], "big") + 20

    def check_counters(self) -> None:
        assert self.before is not None
        after = self.lb.counters()

        def delta(r: Reason) -> int:
            return after.reasons[r][0] - before.reasons[r][0]

        before = self.before
        balanced = sum(
            after.backends[i][0] - before.backends.get(i, (0, 0))[0] for i in after.backends
        )
        drops = sum(delta(r) for r in Reason if r.is_drop)
        passes = sum(delta(r) for r in Reason if r.is_pass)
        assert drops == self.verdicts["XDP_DROP"], "every drop must be counted under a reason"
        assert passes == self.verdicts["XDP_PASS"], "every pass must be counted under a reason"
        sent = delta(Reason.ICMP_FRAG_NEEDED) + delta(Reason.ICMP_TO_BACKEND)
        assert balanced + sent == self.verdicts["XDP_TX"]


def base_frames() -> list[bytes]:
    eth = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:04")
    pkts: list[Packet] = [
        eth / IP(src="10.0.0.2", dst="10.0.0.4") / TCP(sport=1234, dport=8080, flags="S"),
        eth / IP(src="10.0.0.2", dst="10.0.0.4") / UDP(sport=1234, dport=9000) / Raw(b"hello"),
        eth / IP(src="10.0.0.2", dst="10.0.0.5") / TCP(dport=443) / Raw(b"x" * 40),
        eth / IP(src="10.0.0.2", dst="10.0.0.9") / UDP(dport=9000) / Raw(b"y" * 10),
        eth / IP(src="10.0.0.2", dst="10.0.0.4", options=b"\x01" * 8) / UDP(dport=9000),
        eth / IP(src="10.0.0.2", dst="10.0.0.4", flags="MF") / UDP(dport=9000),
        eth / IP(src="10.0.0.2", dst="10.0.0.4") / ICMP(),
        # A router's frag needed about a backend's reply: sent on to the backend.
        eth
        / IP(src="10.0.0.9", dst="10.0.0.4")
        / ICMP(type=3, code=4, nexthopmtu=1280)
        / IP(src="10.0.0.4", dst="10.0.0.2")
        / TCP(sport=8080, dport=1234, flags="A"),
        eth / Dot1Q(vlan=5) / IP(dst="10.0.0.4") / UDP(dport=9000),
        eth / Dot1Q(vlan=5) / Dot1Q(vlan=6) / IP(dst="10.0.0.4") / TCP(dport=8080),
        Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="10.0.0.4"),
        eth / IPv6(dst="fd00::4") / IPv6ExtHdrHopByHop() / UDP(dport=9000),
        eth / IPv6(dst="fd00::4") / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / TCP(dport=8080),
        eth / IPv6(dst="fd00::4") / IPv6ExtHdrFragment(m=1) / UDP(dport=9000),
    ]
    pkts += [eth / IP(src="10.0.0.2", dst="10.0.0.4", proto=p) / Raw(b"z" * 24) for p in range(256)]
    return [bytes(p) for p in pkts]


def truncations(frames: Iterable[bytes]) -> Iterator[bytes]:
    for f in frames:
        for n in range(MIN_FRAME, len(f) + 1):
            yield f[:n]


def mutations(frames: list[bytes], count: int, seed: int = 7) -> Iterator[bytes]:
    """Seeded: a failure reproduces.  Flips bytes, lies in length fields,
    cuts and extends, biased towards the headers the program reads."""
    rng = random.Random(seed)
    for _ in range(count):
        # Half from the three service frames, so the TX path is mutated too.
        f = bytearray(rng.choice(frames[:3] if rng.random() < 0.5 else frames))
        kind = rng.randrange(6)
        if kind == 0:
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(min(len(f), 60))
                f[pos] = rng.randrange(256)
        elif kind == 1 and len(f) >= 18:
            f[16:18] = rng.randrange(65536).to_bytes(2, "big")  # IPv4 total length
        elif kind == 2 and len(f) >= 15:
            f[14] = (rng.randrange(16) << 4) | rng.randrange(16)  # version / IHL
        elif kind == 3 and len(f) >= 22:
            f[20:22] = rng.randrange(65536).to_bytes(2, "big")  # flags / fragment
        elif kind == 4:
            f = f[: rng.randint(MIN_FRAME, len(f))]
        else:
            f += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        if len(f) >= 34 and rng.random() < 0.5:
            f[30:34] = ipaddress.IPv4Address(rng.choice(sorted(VIPS))).packed
        yield bytes(f)


def test_truncation_at_every_byte(lb: Loaded) -> None:
    check = Checker(lb)
    for f in truncations(base_frames()):
        check.run(f)
    check.check_counters()
    assert check.verdicts["XDP_DROP"] > 0 and check.verdicts["XDP_PASS"] > 0


def test_mutated_frames(lb: Loaded) -> None:
    check = Checker(lb)
    for f in mutations(base_frames(), MUTATED_FRAMES):
        check.run(f)
    check.check_counters()
    print(f"\nFUZZ {MUTATED_FRAMES:,} mutated frames: {dict(check.verdicts)}")
    assert check.verdicts["XDP_TX"] > 1000


def test_scapy_fuzz(lb: Loaded) -> None:
    check = Checker(lb)
    templates = [
        Ether() / IP(dst="10.0.0.4") / UDP(dport=9000),
        Ether() / IP(dst="10.0.0.4") / TCP(dport=8080),
        Ether() / IP(dst="10.0.0.5") / TCP(),
        Ether() / IPv6() / IPv6ExtHdrRouting() / UDP(),
    ]
    for i in range(2000):
        f = bytes(fuzz(templates[i % len(templates)]))
        if len(f) >= MIN_FRAME:
            check.run(f)
    check.check_counters()


ethertypes = st.sampled_from([0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8]) | st.integers(0, 0xFFFF)


@st.composite
def ipv4_frames(draw: st.DrawFn) -> bytes:
    ihl = draw(st.integers(0, 15))
    proto = draw(st.sampled_from([6, 17]) | st.integers(0, 255))
    dst = draw(st.sampled_from([*sorted(VIPS), "10.0.0.9", "192.0.2.1"]))
    total = draw(st.integers(0, 200))
    flags_frag = draw(st.sampled_from([0, 0x4000, 0x2000, 0x0001]) | st.integers(0, 0xFFFF))
    header = struct.pack(
        "!BBHHHBBH4s4s",
        (4 << 4) | ihl,
        0,
        total,
        1,
        flags_frag,
        64,
        proto,
        0,
        ipaddress.IPv4Address("10.0.0.2").packed,
        ipaddress.IPv4Address(dst).packed,
    )
    tail = draw(st.binary(min_size=0, max_size=80))
    return b"\x02\0\0\0\0\x04\x02\0\0\0\0\x02\x08\x00" + header + tail


@st.composite
def any_frames(draw: st.DrawFn) -> bytes:
    etype = draw(ethertypes)
    body = draw(st.binary(min_size=0, max_size=120))
    return b"\x02\0\0\0\0\x04\x02\0\0\0\0\x02" + etype.to_bytes(2, "big") + body


@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frame=ipv4_frames() | any_frames())
def test_hypothesis_frames(lb: Loaded, frame: bytes) -> None:
    Checker(lb, counted=False).run(frame)
