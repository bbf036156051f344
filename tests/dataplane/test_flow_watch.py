"""The daemon's flow-table watch on the real program: one line when the
table starts losing affinity, not one per look while it lasts."""

from __future__ import annotations

import os

import pytest

from l4lb_tui import bpfsys
from l4lb_tui.balancer import Balancer
from l4lb_tui.daemon.flowwatch import FlowWatch, change_line
from tests.conftest import veth_netns
from tests.dataplane.test_flow_sizing import DESTS, SVC, frame

pytestmark = pytest.mark.kernel


def test_a_filling_table_is_said_once() -> None:
    said: list[str] = []
    watch = FlowWatch(said.append, every=0.0)
    with veth_netns("y17w") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", flows=1 << 12)
        bal.load([SVC], DESTS)
        fd = bpfsys.obj_get(bal.prog_pin)
        try:
            watch.tick([("y17w", bal)])  # the first look: a baseline, nothing to say
            frames = [frame(i) for i in range(3000)]
            for _ in range(2):  # the second packet stores the flow
                for f in frames:
                    bpfsys.test_run(fd, f)
            watch.tick([("y17w", bal)])
            watch.tick([("y17w", bal)])  # still full: not said again
        finally:
            os.close(fd)
            bal.detach()
    assert len(said) == 1, said
    assert said[0].startswith("flows: y17w: affinity at risk: flow table ")
    assert "% full (" in said[0] and "of 4,096)" in said[0]


def test_the_recovery_is_said_with_the_numbers() -> None:
    assert change_line("lb0", None, None, "1 of 4,096 entries") is None
    assert change_line("lb0", "w", "w2", "t") is None
    assert change_line("lb0", "w", None, "12 of 4,096 entries") == (
        "lb0: flow table recovered, no flow losing its affinity: 12 of 4,096 entries"
    )
    assert change_line("lb0", "w", None, "1,300 of 4,096 entries", "IPv6 flow table") == (
        "lb0: IPv6 flow table recovered, no flow losing its affinity: 1,300 of 4,096 entries"
    )
