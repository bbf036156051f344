"""Mode switches under real IPv6 traffic: the twin of
test_mode_switch_e2e.py (IPv4).  Keep-alive HTTP connections and UDP senders
to the IPv6 VIP run from the client namespace while the balancer switches
between driver and generic mode again and again; in each gap the guard must
hold their packets back (the balancer's host holds the IPv6 VIP and would
answer with resets and port unreachables), and the switch's message must
count them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from test_mode_switch_e2e import _MESSAGE, CONNS, PAUSE, SWITCHES, Clients, _modes

from l4lb_tui.abi import PROTO_TCP, PROTO_UDP, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import read_destinations
from l4lb_tui.lab import Lab

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def lb6(lab: Lab) -> Iterator[tuple[Lab, Balancer]]:
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    bal.attach("driver", lab.outer_saddr, saddr6=lab.outer_saddr6)
    services = [
        ServiceKey(lab.vip6, lab.http_port, PROTO_TCP),
        ServiceKey(lab.vip6, lab.udp_port, PROTO_UDP),
    ]
    bal.load(services, list(read_destinations(lab.csv6_path)))
    try:
        yield lab, bal
    finally:
        bal.detach()


def test_switching_modes_resets_no_v6_connection(lb6: tuple[Lab, Balancer]) -> None:
    lab, bal = lb6
    assert bal.state().mode == "driver"
    clients = Clients(lab, duration=SWITCHES * PAUSE + 2 * PAUSE, target=lab.vip6)
    held = 0
    for old, new in _modes(SWITCHES):
        done = bal.attach(new)
        assert done.startswith(f"switched {lab.lb_ifname} from {old} to {new} mode"), done
        found = _MESSAGE.search(done)
        assert found, done
        held += int(found.group(3) or 0)
        time.sleep(PAUSE)
    report = clients.report()
    print(
        f"\nMODESWITCH6 {SWITCHES} switches under {CONNS} keep-alive IPv6 connections: "
        f"guard held {held} packets back; {report.requests} requests, {report.resets} resets, "
        f"{report.udp_refused} port unreachables, {report.udp_lost} datagrams lost"
    )
    assert bal.state().mode == "driver"
    assert report.resets == 0 and report.udp_refused == 0, report
    assert report.failed == 0 and report.reopened == 0, report
    assert report.backends_changed == 0, "every connection keeps its backend: the maps stay"
    assert report.requests > SWITCHES * CONNS, report
    assert report.udp_answered > 0
