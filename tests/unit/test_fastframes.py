"""The kernel tests' fast frames are the frames scapy builds."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from tests.dataplane.fastframes import outer_dst, with_source

ETH = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:04")


def _v4(src: str, sport: int, l4: type[Packet]) -> bytes:
    return bytes(ETH / IP(src=src, dst="10.0.0.4") / l4(sport=sport, dport=9000) / Raw(b"xyz"))


def _v6(src: str, sport: int, l4: type[Packet]) -> bytes:
    return bytes(ETH / IPv6(src=src, dst="fd00::4") / l4(sport=sport, dport=9000) / Raw(b"xyz"))


@pytest.mark.parametrize("l4", [UDP, TCP])
@pytest.mark.parametrize(
    ("build", "src", "other"),
    [(_v4, "10.0.0.2", "10.9.3.77"), (_v6, "fd00::2", "fd00:9::3:4d")],
)
def test_with_source_is_what_scapy_builds(build, src, other, l4) -> None:  # type: ignore[no-untyped-def]
    template = build(src, 1000, l4)
    for sport in (1, 1001, 40000, 65535):
        assert with_source(template, other, sport) == build(other, sport, l4)


def test_outer_dst_reads_either_family() -> None:
    assert outer_dst(_v4("10.0.0.2", 1, UDP)) == "10.0.0.4"
    assert outer_dst(_v6("fd00::2", 1, UDP)) == "fd00::4"
    with pytest.raises(AssertionError, match="ethertype 0x0806"):
        outer_dst(bytes(12) + b"\x08\x06" + bytes(28))
