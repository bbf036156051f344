"""The daemon's health checks of IPv6 backends in the dual-stack lab: probed
through the probe tunnel in ip6ip6 (HTTP and UDP, real sockets), shown in
the metrics under their IPv6 labels, drained when their decapsulation stops
or their loopback loses the VIP (what a probe of their own address never
sees) and restored when it is back; the IPv4 services beside them as
before."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui import events
from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.lab import Lab, faults
from tests.lab.daemon_kit import FALL, INTERVAL, RISE, SLACK, TIMEOUT, lab_daemon, up, wait_for

pytestmark = pytest.mark.kernel


@pytest.fixture
def daemon6(lab: Lab, tmp_path: Path) -> Iterator[tuple[Balancer, int]]:
    # Four services (HTTP and UDP, IPv4 and IPv6), 3 backends each.
    with lab_daemon(lab, tmp_path / "l4lb.toml", ipv6=True) as (_, bal, port):
        yield bal, port
    rules6 = subprocess.run(  # noqa: S603 - fixed argv
        ["ip", "-n", lab.lb_ns, "-6", "rule", "show"], capture_output=True, text=True, check=True
    ).stdout
    assert "fwmark" not in rules6, "a stopped daemon leaves no IPv6 probe tunnel"


@pytest.mark.parametrize("how", ["decap", "vip"])
def test_ipv6_backends_are_probed_through_the_tunnel_drained_and_restored(
    lab: Lab, daemon6: tuple[Balancer, int], how: str
) -> None:
    bal, port = daemon6
    http6 = ServiceKey(lab.vip6, lab.http_port, 6)
    udp6 = ServiceKey(lab.vip6, lab.udp_port, 17)
    v6 = {n.addr6 for n in lab.backend_nodes}
    shown = up(port)
    assert {(str(http6), ip) for ip in v6} | {(str(udp6), ip) for ip in v6} <= shown, shown
    assert ("[fd00::4]:8080/tcp", "fd00::11") in shown, "labels: the bracketed VIP, the address"
    assert bal.source6() == lab.outer_saddr6
    # The metrics say "up" from the maps as soon as the start's apply is
    # done, before the health checks are set up: what they say is waited for.
    tunnelled = "health checks go through the probe tunnel to the VIP, from fd00::3"
    wait_for(
        lambda: {(str(http6), tunnelled), (str(udp6), tunnelled)} <= said(lab),
        20,
        "the IPv6 checks said to go through the tunnel",
    )
    wait_for(lambda: len(checked_up(lab)) == 12, 20, "every check's first result: up")
    report = lab.traffic(count=10, target=lab.vip6)
    assert report.http.answered == report.udp.answered == 10

    victim = lab.backend_nodes[0].addr6
    faults.break_backend(lab, 1, how)
    down_in = wait_for(
        lambda: {d.ip for s in (http6, udp6) for d in bal.members(s) if d.down} == {victim},
        INTERVAL * FALL + TIMEOUT + 3 * SLACK + INTERVAL,  # two services, two workers busy
        f"{victim} drained in both IPv6 services after its {how} broke",
    )
    # The metrics are published a moment after the drain.
    wait_for(lambda: (str(http6), victim) not in up(port), 5, "the metrics say it is down")
    after = lab.traffic(count=10, target=lab.vip6)
    assert after.http.answered == after.udp.answered == 10, "new flows avoid the broken backend"
    assert "be1" not in after.http.by_backend and "be1" not in after.udp.by_backend
    faults.fix_backend(lab, 1)
    back_in = wait_for(
        lambda: not any(d.down for s in (http6, udp6) for d in bal.members(s)),
        INTERVAL * RISE + TIMEOUT + 3 * SLACK + INTERVAL,
        f"{victim} restored",
    )
    wait_for(lambda: (str(http6), victim) in up(port), 5, "the metrics say it is up")
    print(f"\nHEALTH IPV6 {how}: drained after {down_in:.2f} s, restored after {back_in:.2f} s")


def said(lab: Lab) -> set[tuple[str, str]]:
    """(service, line) of the health checker's events about the lab's balancer."""
    return {(e.service, e.what) for e in events.read() if e.interface == lab.lb_ifname}


def checked_up(lab: Lab) -> set[tuple[str, str]]:
    """(service, backend) of the checks whose result said "up"."""
    return {
        (e.service, e.backend)
        for e in events.read()
        if e.interface == lab.lb_ifname and e.who == "health" and ": up (" in e.what
    }
