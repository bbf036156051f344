"""Pure logic of the benchmarks: frames, tables.  No kernel."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

from l4lb_bench import frames, frames6, labgen, machine
from l4lb_bench.chart import bars, table
from l4lb_bench.labrate import LB, REFL, LiveReport, Options, Round
from l4lb_bench.labrate_report import bound


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


def test_ipv6_frames_have_correct_checksums_and_encap_check() -> None:
    for proto, layer in ((frames.PROTO_TCP, TCP), (frames.PROTO_UDP, UDP)):
        raw = frames6.ipv6("fd00:1::2", "fd00::4", proto, 40000, 9000)
        pkt = Ether(raw)
        sent = pkt[layer].chksum
        del pkt[layer].chksum
        assert Ether(bytes(pkt))[layer].chksum == sent
        assert pkt[IPv6].plen == len(raw) - 54
    frame = frames6.ipv6("fd00:1::2", "fd00::4", frames.PROTO_UDP, 1, 2)
    mac = bytes.fromhex("020000000111")
    outer = IPv6(src="fd00::1", dst="fd00::11", nh=41, plen=len(frame) - 14)
    good = bytes(Ether(dst="02:00:00:00:01:11") / outer) + frame[14:]
    assert frames6.encap_problems(frame, good, "fd00::1", {"fd00::11": mac}) == []
    assert frames6.encap_problems(frame, good, "fd00::2", {"fd00::11": mac}) == ["bad outer source"]
    assert frames6.encap_problems(frame, frame, "fd00::1", {}) != []


def test_ipv6_varied_inner_source_is_checked_by_its_checksum() -> None:
    frame = frames6.ipv6("fd00:1::2", "fd00::4", frames.PROTO_TCP, 1, 2)
    assert frames6.l4_checksum_ok(frame)
    mac = bytes.fromhex("020000000111")
    outer = IPv6(src="fd00::1", dst="fd00::11", nh=41, plen=len(frame) - 14)
    head = bytes(Ether(dst="02:00:00:00:01:11") / outer)
    other = frames6.ipv6("fd00:1::7", "fd00::4", frames.PROTO_TCP, 1, 2)
    members = {"fd00::11": mac}
    assert frames6.encap_problems(frame, head + other[14:], "fd00::1", members, varied=True) == []
    assert frames6.encap_problems(frame, head + other[14:], "fd00::1", members) == [
        "inner packet changed"
    ]
    broken = bytearray(other)
    broken[30] ^= 1  # the source changed, the checksum not
    assert not frames6.l4_checksum_ok(bytes(broken))
    assert frames6.encap_problems(frame, head + broken[14:], "fd00::1", members, varied=True) == [
        "inner TCP/UDP checksum wrong"
    ]
    moved = frames6.ipv6("fd00:1::7", "fd00::4", frames.PROTO_TCP, 1, 3)
    assert "inner packet changed" in frames6.encap_problems(
        frame, head + moved[14:], "fd00::1", members, varied=True
    )


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


def test_lab_generator_template_has_its_macs_swapped_and_checksums_right() -> None:
    raw = labgen.template("10.0.0.2", "10.0.0.4", 9009, "02:00:00:00:00:02", "02:00:00:00:00:04")
    pkt = Ether(raw)
    # The reflector behind the wrapper swaps them: sent from the client to the balancer.
    assert (pkt.dst, pkt.src) == ("02:00:00:00:00:02", "02:00:00:00:00:04")
    assert (pkt[UDP].sport, pkt[UDP].dport) == (1024, 9009)
    assert frames.l4_checksum_ok(raw)


def _live_report(busy: dict[str, float], machine_busy: float = 0.5) -> LiveReport:

    window = 2.0
    rounds = [
        Round(p, window, 1000, 10_000, 5000, {t: int(b * window * 1e9) for t, b in busy.items()})
        for p in (LB, REFL)
    ]
    host = machine.Host("6.18", "cpu", 2, "now", 0.0)
    return LiveReport(
        Options(2.0, 1, 10), host, "bn1", (0, 1), rounds, 1000, {}, [], 1000, "0", "0", machine_busy
    )


def test_lab_report_names_what_bounded_the_rate() -> None:

    quiet = {"generator": 0.3, "client veth": 0.3, "balancer veth": 0.1, "balancer's peer": 0.1}
    full = {"generator": 0.3, "client veth": 0.5, "balancer veth": 0.2, "balancer's peer": 0.25}
    gen = {"generator": 0.97, "client veth": 0.3, "balancer veth": 0.1, "balancer's peer": 0.1}
    assert bound(_live_report(full), LB).startswith("the path's CPU 1")
    assert bound(_live_report(gen), LB).startswith("the generator: 97%")
    shared = bound(_live_report(quiet, 0.99), LB)
    assert shared.startswith("CPU time shared") and "99% busy" in shared
