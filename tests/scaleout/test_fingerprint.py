"""Ring fingerprints read back from real balancers: equal where the backends
are the same (whatever their order), different where they are not, and the
same in `stats --json` and the metrics."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from l4lb_tui import ring_print
from l4lb_tui.abi import ServiceKey
from l4lb_tui.destinations import Destination
from l4lb_tui.metrics import BalancerSample, render
from l4lb_tui.ring_fill import DEFAULT_RING_SIZE, FillMode, fill
from tests.dataplane.conftest import attached
from tests.killed_reload import ROOT

pytestmark = [pytest.mark.kernel, pytest.mark.scaleout]

SVC = ServiceKey("10.0.0.4", 8080, 6)
BACKENDS = [Destination(f"10.2.0.{i}", f"02:00:00:02:00:{i:02x}", 1 + i % 3) for i in range(1, 9)]


def test_prints_agree_on_order_and_differ_on_backends() -> None:
    with attached("h16fa") as (one, _), attached("h16fb") as (two, _):
        one.load([SVC], BACKENDS)
        # Another history: a backend first, then the set in reverse order,
        # so the second node's backends sit in other slots of its array.
        two.load([SVC], BACKENDS[5:6])
        two.load([SVC], list(reversed(BACKENDS)))
        first, second = one.state().fingerprints[SVC], two.state().fingerprints[SVC]
        assert first == second
        ips = [d.ip for d in BACKENDS]
        ring = fill(
            FillMode.MAGLEV, list(range(8)), ips, [d.weight for d in BACKENDS], DEFAULT_RING_SIZE
        )
        assert first == ring_print.fingerprint(ips[i] for i in ring)

        # Split brain: one backend fewer on the second node.
        two.load([SVC], BACKENDS[:-1])
        split = two.state().fingerprints[SVC]
        assert split != first

        out = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "l4lb_tui.cli", "--netns", two.netlink.netns or "",
             "stats", "-i", two.ifname, "--once", "--json"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert json.loads(out)["ring_fingerprints"] == {str(SVC): split}
        text = render([BalancerSample(one.state(), one.counters())])
        found = [
            s.labels
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
            if s.name == "l4lb_service_ring_fingerprint"
        ]
        assert found == [{"interface": one.ifname, "service": str(SVC), "fingerprint": first}]


def test_print_after_detach_and_attach_again_is_the_new_rings() -> None:
    # t16 F6: the new balancer's first service had the same id, chunk, size
    # and generation as the old one's, so a print cached for the detached
    # maps was served for the new ones (split brain hidden).
    with attached("x16fp") as (bal, _):
        bal.load([SVC], BACKENDS)
        before = bal.state().fingerprints[SVC]
        bal.detach()
        bal.attach("driver")
        bal.load([SVC], BACKENDS[:-1])
        after = bal.state().fingerprints[SVC]
        ips = [d.ip for d in BACKENDS[:-1]]
        ring = fill(
            FillMode.MAGLEV, list(range(7)), ips, [d.weight for d in BACKENDS[:-1]],
            DEFAULT_RING_SIZE,
        )  # fmt: skip
        assert after == ring_print.fingerprint(ips[i] for i in ring)
        assert after != before
