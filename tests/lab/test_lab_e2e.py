"""End to end: the product's balancer (`l4lb` CLI) in the lab's balancer namespace.

Client -> VIP on the balancer (XDP, IPIP, XDP_TX) -> backend (XDP decap) ->
straight back to the client (DSR).  Real kernel, real sockets: run as root.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lab_packets import ETH_P_IP
from lab_support import leftovers, namespace_inodes, require_root, unique_prefix

from l4lb_tui.balancer import Balancer
from l4lb_tui.lab import Lab
from l4lb_tui.lab.topology import link_info

pytestmark = pytest.mark.kernel

PACKET_HOST = 0  # sll_pkttype of a frame addressed to this host
# ARP broadcasts from backends (resolving the client) also reach the
# balancer's port: a few per backend at most during one test.
ARP_SLACK_PER_BACKEND = 3


def l4lb(lab: Lab, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # --netns, not `ip netns exec`: the latter remounts /sys, and the
    # balancer's pins would land in a private bpffs that dies with it.
    done = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "l4lb_tui.cli", "--netns", lab.lb_ns, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check and done.returncode != 0:
        pytest.fail(f"l4lb {' '.join(args)}: {done.stderr.strip()}")
    return done


def attach_and_map(lab: Lab) -> None:
    l4lb(lab, "attach", "-i", lab.lb_ifname, "-s", lab.outer_saddr)
    l4lb(
        lab,
        "map",
        "-i", lab.lb_ifname,
        "-f", str(lab.csv_path),
        "--vip", f"{lab.vip}:{lab.udp_port}/udp",
        "--vip", f"{lab.vip}:{lab.http_port}/tcp",
    )  # fmt: skip


def stats(lab: Lab) -> dict[str, Any]:
    # --interval is the sampling wait before the one line --once prints.
    done = l4lb(lab, "stats", "-i", lab.lb_ifname, "--once", "--json", "--interval", "0.05")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def per_backend(sample: dict[str, Any], lab: Lab, proto: str) -> dict[str, tuple[int, int]]:
    """backend name -> (pkts, bytes) for the service of `proto`."""
    names = {node.addr: node.name for node in lab.backend_nodes}
    return {
        names[row["ip"]]: (row["pkts"], row["bytes"])
        for row in sample["backends"]
        if row["service"].endswith(f"/{proto}")
    }


@pytest.fixture(scope="module")
def balanced(lab: Lab) -> Iterator[Lab]:
    attach_and_map(lab)
    try:
        yield lab
    finally:
        l4lb(lab, "detach", "-i", lab.lb_ifname, check=False)


def all_backends(lab: Lab) -> set[str]:
    return {node.name for node in lab.backend_nodes}


def test_udp_and_http_to_the_vip_reach_every_backend(balanced: Lab) -> None:
    report = balanced.traffic(count=60)
    assert report.udp.answered == report.udp.sent == 60
    assert report.http.answered == report.http.sent == 60
    assert set(report.udp.by_backend) == all_backends(balanced)
    assert set(report.http.by_backend) == all_backends(balanced)


def _port_counters(lab: Lab) -> dict[str, int]:
    lbp = link_info(lab.switch_ns, lab.balancer.port)
    clp = link_info(lab.switch_ns, lab.client.port)
    assert lbp is not None and clp is not None
    return {
        "to_balancer": lbp.tx_packets,  # what the bridge delivered to the balancer
        "from_client": clp.rx_packets,
        "to_client": clp.tx_packets,
    }


def test_replies_go_straight_from_backends_to_the_client(balanced: Lab) -> None:
    lab = balanced
    macs = dict(lab.destinations()).values()
    lb_link = link_info(lab.lb_ns, lab.lb_ifname)
    assert lb_link is not None
    with lab.socket(
        lab.client.ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP)
    ) as cap:
        cap.bind((lab.client.ifname, ETH_P_IP))
        before = _port_counters(lab)
        report = lab.traffic(count=30)
        after = _port_counters(lab)
        cap.setblocking(False)
        reply_sources = set()
        while True:
            try:
                frame, addr = cap.recvfrom(65535)
            except BlockingIOError:
                break
            # IPv4 source address at Ethernet 14 + IP offset 12.
            if addr[2] == PACKET_HOST and frame[26:30] == socket.inet_aton(lab.vip):
                reply_sources.add(frame[6:12].hex(":"))
    answered = report.udp.answered + report.http.answered
    assert answered == 60
    delta = {k: after[k] - before[k] for k in before}
    # Every reply frame on the client's wire comes from a backend's MAC...
    assert reply_sources and reply_sources <= set(macs)
    assert lb_link.mac not in reply_sources
    # ...and the bridge handed the balancer only the client's frames, not
    # the replies too (which would roughly double it).
    assert delta["to_client"] >= answered
    slack = ARP_SLACK_PER_BACKEND * lab.backends
    assert delta["to_balancer"] <= delta["from_client"] + slack


def test_keepalive_connection_stays_on_one_backend(balanced: Lab) -> None:
    lab = balanced
    sock = lab.socket(lab.client.ns)
    sock.settimeout(2)
    sock.connect((lab.vip, lab.http_port))
    local = sock.getsockname()
    conn = http.client.HTTPConnection(lab.vip, lab.http_port, timeout=2)
    conn.sock = sock
    # A closed connection must fail the test, not be silently reopened.
    conn.auto_open = 0

    def get() -> str:
        conn.request("GET", "/")
        resp = conn.getresponse()
        assert resp.status == 200
        return resp.read().decode().strip()

    try:
        seen = [get() for _ in range(5)]
        # Meanwhile new connections keep spreading over all backends...
        spread = lab.traffic(count=30)
        assert set(spread.http.by_backend) == all_backends(lab)
        # ...and reloading the same destinations does not move this one.
        attach_and_map(lab)
        seen += [get() for _ in range(5)]
        assert sock.getsockname() == local
    finally:
        conn.close()
    assert len(set(seen)) == 1, seen


def test_stats_counters_agree_with_traffic_sent(balanced: Lab) -> None:
    lab = balanced
    before = stats(lab)
    report = lab.traffic(count=40)
    after = stats(lab)
    assert report.udp.answered == report.http.answered == 40

    udp0, udp1 = per_backend(before, lab, "udp"), per_backend(after, lab, "udp")
    for name in all_backends(lab):
        pkts = udp1[name][0] - udp0[name][0]
        # One datagram per request, never retransmitted: exact.
        assert pkts == report.udp.by_backend.get(name, 0), name
        if pkts:
            per_packet = (udp1[name][1] - udp0[name][1]) / pkts
            # The 16-byte request, +UDP+IP (44), up to +Ethernet+outer IP (78).
            assert 44 <= per_packet <= 78, per_packet

    tcp0, tcp1 = per_backend(before, lab, "tcp"), per_backend(after, lab, "tcp")
    for name in all_backends(lab):
        pkts = tcp1[name][0] - tcp0[name][0]
        conns = report.http.by_backend.get(name, 0)
        # Client-to-server packets of one short HTTP connection: SYN, ACK,
        # request, ACKs, FIN: 4 at least; 10 leaves room for a retransmission.
        assert 4 * conns <= pkts <= 10 * conns, (name, conns, pkts)

    assert after["dropped"] == before["dropped"]


def test_flood_is_balanced_and_servers_survive_it(balanced: Lab) -> None:
    lab = balanced
    before = stats(lab)
    flood = lab.flood(1.0)
    after = stats(lab)
    sent = flood.udp_sent + flood.syn_sent
    counted = after["totals"]["pkts"] - before["totals"]["pkts"]
    # The balancer counts what reached it: at most what hping3 sent (which it
    # tallies when SIGINT lands, so the last few in flight may be missing
    # from its figure), and a veth under flood loses little of it.
    assert 0.5 * sent <= counted <= sent + 50, (sent, counted)
    udp0, udp1 = per_backend(before, lab, "udp"), per_backend(after, lab, "udp")
    assert all(udp1[n][0] > udp0[n][0] for n in all_backends(lab))
    # Random sources make replies unroutable; the servers must shrug it off.
    time.sleep(0.2)
    report = lab.traffic(count=20)
    assert report.udp.answered == report.http.answered == 20


def test_detach_stops_balancing_and_attach_restores_it(balanced: Lab) -> None:
    lab = balanced
    l4lb(lab, "detach", "-i", lab.lb_ifname)
    off = lab.traffic(count=10, duration=5)
    assert off.udp.answered == off.http.answered == 0
    assert link_info(lab.lb_ns, lab.lb_ifname).xdp_prog_id == 0  # type: ignore[union-attr]

    attach_and_map(lab)
    on = lab.traffic(count=60)
    assert on.udp.answered == on.http.answered == 60
    assert set(on.udp.by_backend) == all_backends(lab)


def test_down_with_the_balancer_attached_leaves_nothing() -> None:
    require_root()
    other = Lab(unique_prefix(), backends=1)
    try:
        other.up()
        attach_and_map(other)
        pins = Balancer(other.lb_ifname, netns=other.lb_ns).pin_dir
        assert list(pins.iterdir()), "the balancer pinned nothing"
        inodes = namespace_inodes(other.prefix)
        other.down()
        assert leftovers(other.prefix, inodes) == []
    finally:
        other.down()
