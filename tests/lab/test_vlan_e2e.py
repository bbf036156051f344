"""VLAN-tagged frames to the VIP are never balanced: over the lab's bridge,
with the tag in the frame (as a NIC with VLAN stripping off delivers it),
they go to the kernel and are counted as pass_vlan.  And `l4lb attach`
warns about an interface that carries VLAN sub-interfaces."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw

from l4lb_tui.abi import PROTO_UDP, Reason, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.control.attaching import vlan_warning
from l4lb_tui.destinations import read_destinations
from l4lb_tui.lab import Lab
from l4lb_tui.netlink import Netlink
from tests.conftest import veth_netns
from tests.killed_reload import ROOT

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def udp_lb(lab: Lab) -> Iterator[Balancer]:
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    bal.attach("driver", lab.outer_saddr)
    bal.load([ServiceKey(lab.vip, lab.udp_port, PROTO_UDP)], list(read_destinations(lab.csv_path)))
    try:
        yield bal
    finally:
        bal.detach()


def test_tagged_frames_to_the_vip_pass_to_the_kernel(lab: Lab, udp_lb: Balancer) -> None:
    bal = udp_lb
    client_mac = Netlink(lab.client.ns).link(lab.client.ifname).mac
    base = Ether(src=client_mac, dst=bal.link().mac)
    inner = IP(src=lab.client.addr, dst=lab.vip) / UDP(sport=40000, dport=lab.udp_port) / Raw(b"q")
    tagged = bytes(base / Dot1Q(vlan=100) / inner)
    untagged = bytes(base / inner)
    before = bal.counters()
    sock = lab.socket(lab.client.ns, socket.AF_PACKET, socket.SOCK_RAW)
    try:
        sock.bind((lab.client.ifname, 0))
        for _ in range(20):
            sock.send(tagged)
        sock.send(untagged)
    finally:
        sock.close()
    deadline = time.monotonic() + 5
    while True:
        after = bal.counters()
        vlan = after.reasons[Reason.PASS_VLAN][0] - before.reasons[Reason.PASS_VLAN][0]
        sent = sum(v[0] for v in after.backends.values()) - sum(
            v[0] for v in before.backends.values()
        )
        if (vlan, sent) == (20, 1) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (vlan, sent) == (20, 1), "20 tagged frames passed, the untagged one balanced"


def test_the_vlan_warning_names_the_sub_interfaces() -> None:
    assert vlan_warning("eth1", []) is None
    text = vlan_warning("eth1", ["eth1.7", "eth1.8", "eth1.9", "eth1.10"])
    assert text is not None
    assert text.startswith("eth1 carries VLAN sub-interfaces (eth1.7, eth1.8, eth1.9 and 1 more)")
    assert "'ethtool -K eth1 rxvlan off'" in text


def test_attach_does_not_warn_without_vlans() -> None:
    """This kernel has no 8021q module (no VLAN devices can be made here):
    the query runs for real and finds none."""
    with veth_netns("l4v") as (ns, dev, _):
        cli = [sys.executable, "-m", "l4lb_tui.cli", "--netns", ns]
        try:
            res = subprocess.run(  # noqa: S603
                [*cli, "attach", "-i", dev], cwd=ROOT, capture_output=True, text=True, check=False
            )
            assert res.returncode == 0, res.stderr
            assert "VLAN" not in res.stderr
        finally:
            subprocess.run([*cli, "detach", "-i", dev], cwd=ROOT, check=False)  # noqa: S603
