"""The nodes view on a real scale-out lab: its three nodes read from the
lab's run directories (sessions established, the VIP announced, one ring
print everywhere, packets counted), and d / u from the console draining
and undraining a node through its daemon, as `l4lb node drain` does."""

from __future__ import annotations

import pytest

from l4lb_tui.console_backend import ConsoleError
from l4lb_tui.console_nodes import HostNodes
from l4lb_tui.lab.scaleout import ScaleLab
from l4lb_tui.node_find import lab_specs
from l4lb_tui.widgets.node_table import NodeTable
from tests.scaleout.nodes_console import drain_highlighted, established, nodes_app, open_view
from tests.scaleout.test_scaleout_e2e import _wait_hops

pytestmark = [pytest.mark.kernel, pytest.mark.scaleout]


def _nodes(lab: ScaleLab) -> HostNodes:
    specs = [s for s in lab_specs() if s.netns.startswith(f"{lab.prefix}-")]
    assert [s.name for s in specs] == [n.ns for n in lab.node_list]
    return HostNodes(specs)


def test_lab_nodes_read_and_drain(scale: ScaleLab) -> None:
    nodes = _nodes(scale)
    samples = established(nodes.nodes)
    assert all(s.announced == (scale.vip, scale.vip6) and not s.drained for s in samples)
    assert all(s.session6.startswith("Established") for s in samples)
    assert len({s.ring_prints for s in samples}) == 1 and samples[0].ring_prints
    assert all(s.packets is not None for s in samples)
    n2 = scale.node_list[1].ns
    try:
        said = nodes.drain(n2)
        assert "drained: withdrew 10.0.0.4, fd00::4" in said, said
        _wait_hops(scale, {1, 3})
        assert next(s for s in nodes.nodes() if s.name == n2).drained
    finally:
        nodes.undrain(n2)
    _wait_hops(scale, {1, 2, 3})


async def test_console_drains_a_lab_node(scale: ScaleLab) -> None:
    nodes = _nodes(scale)
    app = nodes_app(nodes)
    n1 = scale.node_list[0].ns
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await open_view(
                pilot, lambda screen: screen.query_one(NodeTable).row_count == 3, "no nodes shown"
            )
            await drain_highlighted(pilot, scale, 1)  # the cursor is on node 1
            await pilot.press("r")
            for _ in range(200):
                await pilot.pause(0.05)
                if any(s.drained for s in app.screen.samples if s.name == n1):
                    break
            else:
                raise AssertionError("the view did not show the drain")
    finally:
        nodes.undrain(n1)
    _wait_hops(scale, {1, 2, 3})


def test_a_killed_node_shows_no_daemon(scale: ScaleLab) -> None:
    """Last: the killed daemon's stale status is not shown as live."""
    nodes = _nodes(scale)
    scale.kill_node(3)
    _wait_hops(scale, {1, 2})
    samples = {s.name: s for s in nodes.nodes()}
    dead = samples[scale.node_list[2].ns]
    assert dead.session == "" and dead.announced == () and dead.problem == "no daemon", dead
    # Its toast: no CLI prefix, and the lab's remedy (t16 F15).
    with pytest.raises(ConsoleError) as said:
        nodes.drain(dead.name)
    assert "l4lb: error" not in str(said.value), said.value
    assert str(said.value).endswith(
        f"(start it again: l4lb lab up --prefix {scale.prefix} --nodes 3)"
    ), said.value
    assert all(samples[n.ns].session.startswith("Established") for n in scale.node_list[:2])
