"""A node lost outright where the router has no BFD (`lab up --nodes N
--no-bfd`, as with a router that lacks it): the router notices after the
BGP hold time, not in under a second, and the connections the node carried
still continue through the other, whose ring is the same."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from l4lb_tui.lab.scaleout import ScaleLab
from tests.scaleout.conftest import summary
from tests.scaleout.loss import lose_node

pytestmark = [pytest.mark.kernel, pytest.mark.scaleout]

CONNS = 30


@pytest.fixture(scope="module")
def no_bfd() -> Iterator[ScaleLab]:
    lab = ScaleLab(f"h16h{uuid.uuid4().hex[:3]}", nodes=2, backends=3, bfd=False)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def test_without_bfd_the_router_waits_for_the_hold_time(no_bfd: ScaleLab) -> None:
    names = {p.name for p in no_bfd.router_speaker.protocols()}
    assert not [n for n in names if n.startswith("bfd")], names
    converged, done = lose_node(no_bfd, 1, CONNS)
    survived = sum(c.survived for c in done) / len(done)
    print(
        f"\nSCALEOUT node loss without BFD: router converged in {converged * 1000:.0f} ms "
        f"(hold time 6 s); {survived:.0%} of {CONNS} established connections survived "
        f"({summary(done)})"
    )
    assert survived == 1.0, summary(done)
