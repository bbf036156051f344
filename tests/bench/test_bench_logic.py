"""Pure logic of the benchmarks: frames, tables.  No kernel."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

from l4lb_bench import frames
from l4lb_bench.chart import bars, table


def test_frames_have_correct_checksums() -> None:
    for proto, layer in ((frames.PROTO_TCP, TCP), (frames.PROTO_UDP, UDP)):
        for size in (60, 1500):
            raw = frames.ipv4("10.1.0.2", "10.0.0.4", proto, 40000, 9000, size=size)
            assert len(raw) == size
            pkt = Ether(raw)
            ip_sum, l4_sum = pkt[IP].chksum, pkt[layer].chksum
            del pkt[IP].chksum, pkt[layer].chksum
            again = Ether(bytes(pkt))
            assert (again[IP].chksum, again[layer].chksum) == (ip_sum, l4_sum)
            assert frames.l4_checksum_ok(raw)


def test_arp_frame() -> None:
    raw = frames.arp_request("10.1.0.2", "10.0.0.4")
    assert len(raw) == 60 and Ether(raw)[ARP].pdst == "10.0.0.4"


def test_changed_span_sees_encapsulation_at_the_head() -> None:
    inner = frames.ipv4("10.1.0.2", "10.0.0.4", frames.PROTO_UDP, 1, 2)
    outer = b"\xff" * 34 + inner[14:]  # new Ethernet + outer IP over the old Ethernet
    assert frames.changed_span(inner, outer) == (0, 13)
    assert frames.changed_span(inner, inner) is None


def test_table_and_bars_are_plain_text() -> None:
    text = table(["a", "n"], [["x", "1"], ["long", "22"]], right={1})
    assert text.splitlines()[2] == "x      1"
    chart = bars([("k", [("l4lb", 200.0), ("ref", 100.0)])], "ns")
    assert "\x1b" not in chart and "l4lb" in chart and "200" in chart


def test_kind_names_match_the_kinds() -> None:
    from l4lb_bench import dataplane, defaults

    assert tuple(k.name for k in dataplane.kinds()) == defaults.KIND_NAMES
