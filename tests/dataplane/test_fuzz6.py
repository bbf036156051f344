"""IPv6 frames, truncated, lying and random, through the real program with
IPv6 services loaded: never aborted, never a drop or a rewrite of what is
not certainly for a VIP, every pass and drop counted, every XDP_TX a
well-formed ip6ip6 or Packet Too Big."""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import TCP
from scapy.layers.inet6 import ICMPv6PacketTooBig, IPv6
from scapy.layers.l2 import Ether

from l4lb_tui.abi import Reason
from tests.dataplane.test_packets6 import B6, SADDR6, VIP6, Loaded6, lb6, tcp6, udp6

pytestmark = pytest.mark.kernel
__all__ = ["lb6"]  # the module's fixture, shared

VIPS6 = {VIP6, "fd00::5", "fd00::6", "fd00::7"}
BY_IP = {b.ip for b in B6}


def for_a_vip_maybe(frame: bytes) -> bool:
    """False only when the frame is certainly not for a v6 service."""
    if len(frame) < 14 or frame[12:14] != b"\x86\xdd":
        return False
    if len(frame) < 54:
        return False  # the destination is not there to be a VIP's
    return str(ipaddress.IPv6Address(frame[38:54])) in VIPS6


class Checker:
    def __init__(self, lb: Loaded6) -> None:
        self.lb = lb
        self.verdicts: Counter[str] = Counter()
        self.before = lb.balancer.counters()

    def run(self, frame: bytes) -> None:
        res = self.lb.run(frame)
        self.verdicts[res.verdict] += 1
        assert res.verdict != "XDP_ABORTED", frame.hex()
        if not for_a_vip_maybe(frame):
            assert res.verdict == "XDP_PASS", frame.hex()
            assert res.data == frame, frame.hex()
        if res.verdict == "XDP_TX":
            self.check_tx(frame, res.data)

    def check_tx(self, frame: bytes, out: bytes) -> None:
        assert out[12:14] == b"\x86\xdd" and out[14] >> 4 == 6, out.hex()
        if out[20] == 58:  # Packet Too Big back to the client
            assert out[54] == 2 and out[22:38] == frame[38:54] and out[62:110] == frame[14:62]
            return
        assert out[20] == 41 and out[21] == 64, out.hex()
        assert str(ipaddress.IPv6Address(out[22:38])) == SADDR6
        assert str(ipaddress.IPv6Address(out[38:54])) in BY_IP
        assert struct.unpack_from("!H", out, 18)[0] == 40 + struct.unpack_from("!H", frame, 18)[0]
        assert out[54:] == frame[14:], "inner packet must be the input, byte for byte"

    def check_counters(self) -> None:
        after = self.lb.balancer.counters()

        def delta(r: Reason) -> int:
            return after.reasons[r][0] - self.before.reasons[r][0]

        assert sum(delta(r) for r in Reason if r.is_drop) == self.verdicts["XDP_DROP"]
        assert sum(delta(r) for r in Reason if r.is_pass) == self.verdicts["XDP_PASS"]


def base_frames() -> list[bytes]:
    return [
        tcp6(),
        udp6(),
        udp6(dst="fd00::5", dport=22),
        udp6(dst="fd00::99"),
        tcp6(dport=8080, sport=7, flags="A"),
        udp6(size=1500 - 40 - 40 - 8 + 1),
        # A router's Packet Too Big about a backend's reply: sent on to the backend.
        bytes(
            Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:04")
            / IPv6(src="fd00::9", dst=VIP6)
            / ICMPv6PacketTooBig(mtu=1280)
            / IPv6(src=VIP6, dst="fd00::2")
            / TCP(sport=8080, dport=40000, flags="A")
        ),
    ]


def truncations(frames: list[bytes]) -> Iterator[bytes]:
    for f in frames:
        for n in range(14, min(len(f), 120) + 1):
            yield f[:n]


def test_truncation_at_every_byte(lb6: Loaded6) -> None:
    check = Checker(lb6)
    for f in truncations(base_frames()):
        check.run(f)
    check.check_counters()
    assert check.verdicts["XDP_DROP"] > 0 and check.verdicts["XDP_PASS"] > 0


@st.composite
def ipv6_frames(draw: st.DrawFn) -> bytes:
    version = draw(st.sampled_from([6, 6, 6, 4, 0]))
    nh = draw(st.sampled_from([6, 17, 0, 43, 44, 58, 60, 51, 50]) | st.integers(0, 255))
    dst = draw(st.sampled_from([*sorted(VIPS6), "fd00::99", "ff02::1:ff00:4"]))
    plen = draw(st.integers(0, 200) | st.just(0xFFFF))
    tail = draw(st.binary(min_size=0, max_size=100))
    head = struct.pack("!IHBB", version << 28, plen, nh, 64)
    src = ipaddress.IPv6Address(draw(st.integers(0, (1 << 128) - 1))).packed
    return (
        b"\x02\0\0\0\0\x04\x02\0\0\0\0\x02\x86\xdd"
        + head
        + src
        + ipaddress.IPv6Address(dst).packed
        + tail
    )


@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frame=ipv6_frames())
def test_hypothesis_v6_frames(lb6: Loaded6, frame: bytes) -> None:
    res = lb6.run(frame)
    assert res.verdict != "XDP_ABORTED", frame.hex()
    if not for_a_vip_maybe(frame):
        assert res.verdict == "XDP_PASS" and res.data == frame, frame.hex()
    if res.verdict == "XDP_TX":
        Checker.check_tx(Checker.__new__(Checker), frame, res.data)
