"""Mode switches under real traffic (issue 11, item 3).

Eight keep-alive HTTP connections and two UDP senders run through the VIP
from the client namespace, in a process of their own, while the balancer is
switched between driver and generic mode again and again.  Between the
detach and the attach, the balancer's host (it holds the VIP) would answer
them with resets and port unreachables; the switch must cost none.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import time
from collections.abc import Iterator

import pytest
from lab_conns import loaded

from l4lb_tui.balancer import Balancer
from l4lb_tui.lab import Lab
from l4lb_tui.lab.keepalive import KEEPALIVE_MODULE, KeepAliveReport
from l4lb_tui.lab.tools import python_module, spawn_in

pytestmark = pytest.mark.kernel

CONNS = 8
UDP_SENDERS = 2
SWITCHES = 8
PAUSE = 0.3  # between switches: every connection sends meanwhile
_MESSAGE = re.compile(r"\(gap ([0-9.]+) ms, (no packet|(\d+) packets?)")


@pytest.fixture(scope="module")
def lb(lab: Lab) -> Iterator[tuple[Lab, Balancer]]:
    with loaded(lab) as (_, bal, _, _):
        yield lab, bal


class Clients:
    """The keep-alive clients, running in the client namespace."""

    def __init__(self, lab: Lab, duration: float, target: str = "") -> None:
        argv = python_module(
            KEEPALIVE_MODULE,
            "--target", target or lab.vip,
            "--conns", str(CONNS),
            "--udp", str(UDP_SENDERS),
            "--duration", str(duration),
        )  # fmt: skip
        self.proc = spawn_in(lab.client.ns, argv)
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline().strip()
        if ready != "ready":
            self.proc.kill()
            pytest.fail(f"keep-alive clients did not start: {ready} {self.proc.stderr}")
        time.sleep(PAUSE)  # every connection under way before the first switch

    def report(self) -> KeepAliveReport:
        try:
            out, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail("keep-alive clients did not finish")
        assert self.proc.returncode == 0, err
        return KeepAliveReport.from_json(out.strip().splitlines()[-1])


def _modes(count: int) -> list[tuple[str, str]]:
    seq = ["driver", "generic"] * (count // 2 + 1)
    return list(itertools.pairwise(seq))[:count]


def switch_modes(lab: Lab, bal: Balancer) -> tuple[list[float], int]:
    """SWITCHES switches, PAUSE apart: each switch's gap (ms) and how many
    packets the guard held back in all."""
    gaps: list[float] = []
    held = 0
    for old, new in _modes(SWITCHES):
        done = bal.attach(new)
        assert done.startswith(f"switched {lab.lb_ifname} from {old} to {new} mode"), done
        found = _MESSAGE.search(done)
        assert found, done
        gaps.append(float(found.group(1)))
        held += int(found.group(3) or 0)
        time.sleep(PAUSE)
    return gaps, held


def assert_no_connection_hurt(report: KeepAliveReport) -> None:
    assert report.resets == 0 and report.udp_refused == 0, report
    assert report.failed == 0 and report.reopened == 0, report
    assert report.backends_changed == 0, "every connection keeps its backend: the maps stay"
    assert report.requests > SWITCHES * CONNS, report
    assert report.udp_answered > 0


def test_switching_modes_resets_no_connection(lb: tuple[Lab, Balancer]) -> None:
    lab, bal = lb
    assert bal.state().mode == "driver"
    clients = Clients(lab, duration=SWITCHES * PAUSE + 2 * PAUSE)
    gaps, held = switch_modes(lab, bal)
    report = clients.report()
    print(
        f"\nMODESWITCH {SWITCHES} switches under {CONNS} keep-alive connections and "
        f"{UDP_SENDERS} UDP senders: gap (one send(): detach and attach) "
        f"{min(gaps):.2f}-{max(gaps):.2f} ms, median {sorted(gaps)[len(gaps) // 2]:.2f} ms; "
        f"guard held {held} packets back; {report.requests} requests, "
        f"{report.resets} resets, {report.udp_refused} port unreachables, "
        f"{report.slow} requests waited for a retransmission "
        f"(slowest {report.max_latency_ms:.0f} ms), {report.udp_lost} datagrams lost"
    )
    assert bal.state().mode == "driver"
    assert_no_connection_hurt(report)


def test_two_bpftool_runs_reset_connections(lb: tuple[Lab, Balancer]) -> None:
    """The control: the old switch (a bpftool process to detach, another to
    attach, unguarded) under the same traffic.  It shows that the traffic
    above would see the resets if the switch caused them."""
    lab, bal = lb
    assert bal.state().mode == "driver"
    clients = Clients(lab, duration=4 * PAUSE + 2 * PAUSE)
    for old, new in _modes(4):
        bal.bpftool.net_detach(old, lab.lb_ifname)
        bal.bpftool.net_attach(new, bal.prog_pin, lab.lb_ifname)
        time.sleep(PAUSE)
    report = clients.report()
    print(
        f"\nMODESWITCH old path, 4 switches: {report.resets} resets, "
        f"{report.udp_refused} port unreachables, {report.requests} requests"
    )
    assert bal.state().mode == "driver"
    assert report.resets + report.udp_refused > 0, report
