"""Mode switches under real IPv6 traffic: the twin of
test_mode_switch_e2e.py (IPv4).  Keep-alive HTTP connections and UDP senders
to the IPv6 VIP run from the client namespace while the balancer switches
between driver and generic mode again and again; in each gap the guard must
hold their packets back (the balancer's host holds the IPv6 VIP and would
answer with resets and port unreachables), and the switch's message must
count them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lab_conns import loaded
from test_mode_switch_e2e import (
    CONNS,
    PAUSE,
    SWITCHES,
    Clients,
    assert_no_connection_hurt,
    switch_modes,
)

from l4lb_tui.balancer import Balancer
from l4lb_tui.lab import Lab

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def lb6(lab: Lab) -> Iterator[tuple[Lab, Balancer]]:
    with loaded(lab, ipv6=True) as (_, bal, _, _):
        yield lab, bal


def test_switching_modes_resets_no_v6_connection(lb6: tuple[Lab, Balancer]) -> None:
    lab, bal = lb6
    assert bal.state().mode == "driver"
    clients = Clients(lab, duration=SWITCHES * PAUSE + 2 * PAUSE, target=lab.vip6)
    _, held = switch_modes(lab, bal)
    report = clients.report()
    print(
        f"\nMODESWITCH6 {SWITCHES} switches under {CONNS} keep-alive IPv6 connections: "
        f"guard held {held} packets back; {report.requests} requests, {report.resets} resets, "
        f"{report.udp_refused} port unreachables, {report.udp_lost} datagrams lost"
    )
    assert bal.state().mode == "driver"
    assert_no_connection_hurt(report)
