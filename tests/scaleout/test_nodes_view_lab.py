"""The nodes view on a real scale-out lab: its three nodes read from the
lab's run directories (sessions established, the VIP announced, one ring
print everywhere, packets counted), and d / u from the console draining
and undraining a node through its daemon, as `l4lb node drain` does."""

from __future__ import annotations

import time

import pytest

from l4lb_tui.app import ConsoleApp
from l4lb_tui.console_backend import ConsoleError, ConsoleSettings
from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.console_nodes import HostNodes
from l4lb_tui.lab.scaleout import ScaleLab
from l4lb_tui.node_find import lab_specs
from l4lb_tui.screens.nodes import NodesScreen
from l4lb_tui.widgets.node_table import NodeTable
from tests.scaleout.test_scaleout_e2e import _wait_hops

pytestmark = [pytest.mark.kernel, pytest.mark.scaleout]


def _nodes(lab: ScaleLab) -> HostNodes:
    specs = [s for s in lab_specs() if s.netns.startswith(f"{lab.prefix}-")]
    assert [s.name for s in specs] == [n.ns for n in lab.node_list]
    return HostNodes(specs)


def test_lab_nodes_read_and_drain(scale: ScaleLab) -> None:
    nodes = _nodes(scale)
    deadline = time.monotonic() + 30  # a session an earlier test bounced comes back
    samples = nodes.nodes()
    while not all(s.session.startswith("Established") for s in samples):
        assert time.monotonic() < deadline, samples
        time.sleep(0.5)
        samples = nodes.nodes()
    assert all(s.announced == (scale.vip,) and not s.drained for s in samples)
    assert len({s.ring_prints for s in samples}) == 1 and samples[0].ring_prints
    assert all(s.packets is not None for s in samples)
    n2 = scale.node_list[1].ns
    try:
        said = nodes.drain(n2)
        assert "drained: withdrew 10.0.0.4" in said, said
        _wait_hops(scale, {1, 3})
        assert next(s for s in nodes.nodes() if s.name == n2).drained
    finally:
        nodes.undrain(n2)
    _wait_hops(scale, {1, 2, 3})


async def test_console_drains_a_lab_node(scale: ScaleLab) -> None:
    nodes = _nodes(scale)
    settings = ConsoleSettings(poll_interval=None, links_interval=None)
    app = ConsoleApp(FakeBackend.demo(), None, settings, nodes=nodes)
    n1 = scale.node_list[0].ns
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("N")
            for _ in range(200):
                await pilot.pause(0.05)
                screen = app.screen
                if isinstance(screen, NodesScreen) and screen.query_one(NodeTable).row_count == 3:
                    break
            else:
                raise AssertionError("no nodes shown")
            assert isinstance(app.screen, NodesScreen)
            await pilot.press("d")  # the cursor is on node 1
            for _ in range(400):
                await pilot.pause(0.05)
                if scale.node_list[0].addr not in scale.next_hops():
                    break
            assert scale.next_hops() == {scale.node_list[1].addr, scale.node_list[2].addr}
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
