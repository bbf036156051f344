"""The probe scheduler on real sockets: jittered starts, one probe per check at
a time, timeouts, changes, a clean stop.  Probes go from the lab's balancer
namespace to the backends' own addresses.  Run as root.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
import time

import pytest

from l4lb_tui.config_model import HealthSpec
from l4lb_tui.health.logic.probes import build_probe
from l4lb_tui.health.model import CheckKey, Probe, ProbeResult, Target
from l4lb_tui.health.scheduler import Scheduler
from l4lb_tui.lab import Lab
from l4lb_tui.lab.names import PROBE_SADDR
from l4lb_tui.netlink import NetlinkError

pytestmark = pytest.mark.kernel

NOBODY = "10.0.0.99"  # on the lab's subnet, held by no one: no answer ever


def probe(address: str, service: str = "s", **spec: float) -> Probe:
    health = HealthSpec(check="tcp", **spec)  # type: ignore[arg-type]
    return build_probe(
        CheckKey(service, address), health, "10.0.0.4", 8080, Target.ADDRESS, source=PROBE_SADDR
    )


class Collector:
    def __init__(self) -> None:
        self.results: list[ProbeResult] = []
        self.batches = 0
        self.lock = threading.Lock()

    def __call__(self, batch: tuple[ProbeResult, ...]) -> None:
        assert isinstance(batch, tuple)
        with self.lock:
            self.results.extend(batch)
            self.batches += 1

    def of(self, key: CheckKey) -> list[ProbeResult]:
        with self.lock:
            return [r for r in self.results if r.key == key]


def test_first_probes_are_spread_over_the_interval(lab: Lab) -> None:
    got = Collector()
    checks = [probe(node.addr, f"s{i}") for i in range(20) for node in lab.backend_nodes]
    with Scheduler(got, netns=lab.lb_ns, seed=7) as scheduler:
        begun = time.monotonic()
        scheduler.set_probes(checks)
        time.sleep(1.3)
    firsts = [min(r.started for r in got.of(p.key)) - begun for p in checks]
    assert all(r.ok and r.detail == "connected" for r in got.results)
    # A start may be late by the 10 ms grid and a busy host, never early.
    assert min(firsts) >= 0 and max(firsts) <= 1.0 + 0.15
    assert max(firsts) - min(firsts) > 0.5, "not one burst"
    assert got.batches < len(got.results), "results come in batches"


def test_a_check_never_has_two_probes_in_flight(lab: Lab) -> None:
    # Timeout longer than the interval: the slots that fall in a probe are skipped.
    got = Collector()
    silent = probe(NOBODY, interval=0.1, timeout=0.25)
    # A neighbour that never fails: on a loaded machine an earlier probe's
    # ARP could have failed already, and then connect says "host
    # unreachable" at once instead of waiting out the timeout.
    never_answers = ["neigh", "replace", NOBODY, "lladdr", "02:00:00:00:00:99"]
    subprocess.run(  # noqa: S603
        ["ip", "-n", lab.lb_ns, *never_answers, "dev", lab.lb_ifname, "nud", "permanent"],
        check=True,
    )
    with Scheduler(got, netns=lab.lb_ns) as scheduler:
        scheduler.set_probes([silent])
        time.sleep(1.2)
    results = got.of(silent.key)
    assert len(results) >= 3
    for earlier, later in itertools.pairwise(results):
        assert later.started >= earlier.started + earlier.latency
    for r in results:
        assert not r.ok and r.detail == "no answer in 0.25 s"
        assert 0.25 <= r.latency <= 0.25 + 0.1
        with pytest.raises(AttributeError):
            r.ok = True  # type: ignore[misc]


def test_changes_take_effect_and_keep_the_others_phase(lab: Lab) -> None:
    got = Collector()
    a, b = (probe(node.addr, interval=0.2) for node in lab.backend_nodes[:2])
    with Scheduler(got, netns=lab.lb_ns) as scheduler:
        scheduler.set_probes([a, b])
        time.sleep(0.5)
        scheduler.set_probes([a])
        dropped = time.monotonic()
        time.sleep(0.5)
        c = probe(lab.backend_nodes[2].addr, interval=0.2)
        scheduler.set_probes([a, c])
        time.sleep(0.5)
    assert not [r for r in got.of(b.key) if r.started > dropped]
    starts = [r.started for r in got.of(a.key)]
    steps = [y - x for x, y in itertools.pairwise(starts)]
    assert all(abs(step - 0.2) < 0.09 for step in steps), steps
    assert abs(sum(steps) / len(steps) - 0.2) < 0.02, "the phase is kept"
    assert got.of(c.key), "an added check is probed"


def test_stop_closes_every_socket_and_delivers_nothing_after(lab: Lab) -> None:
    fds = len(os.listdir("/proc/self/fd"))
    got = Collector()
    scheduler = Scheduler(got, netns=lab.lb_ns)
    scheduler.set_probes([probe(node.addr, interval=0.1) for node in lab.backend_nodes])
    scheduler.start()
    time.sleep(0.4)
    assert scheduler.running
    scheduler.stop()
    count = len(got.results)
    time.sleep(0.3)
    assert len(got.results) == count > 0
    assert not scheduler.running
    assert len(os.listdir("/proc/self/fd")) == fds


def test_a_failing_receiver_stops_the_scheduler_and_is_told(lab: Lab) -> None:
    def deliver(batch: tuple[ProbeResult, ...]) -> None:
        raise RuntimeError("receiver broke")

    scheduler = Scheduler(deliver, netns=lab.lb_ns)
    scheduler.set_probes([probe(lab.backend_nodes[0].addr, interval=0.1)])
    scheduler.start()
    deadline = time.monotonic() + 2
    while scheduler.running and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(RuntimeError, match="receiver broke"):
        scheduler.stop()


def test_a_missing_namespace_is_refused_at_start() -> None:
    scheduler = Scheduler(lambda batch: None, netns="l4lb-no-such-ns")
    with pytest.raises(NetlinkError, match="does not exist"):
        scheduler.start()


def test_two_probes_for_one_check_are_refused() -> None:
    with pytest.raises(ValueError, match="two probes"):
        Scheduler(lambda batch: None).set_probes([probe(NOBODY), probe(NOBODY, timeout=0.2)])
