"""The console's nodes view driven over a real scale-out lab: the app on
its nodes, the view opened, a node drained from it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from textual.pilot import Pilot

from l4lb_tui.app import ConsoleApp
from l4lb_tui.console_backend import ConsoleSettings
from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.console_nodes import HostNodes, NodeSample
from l4lb_tui.lab.scaleout import ScaleLab
from l4lb_tui.screens.nodes import NodesScreen


def nodes_app(nodes: HostNodes) -> ConsoleApp:
    """A console whose only real part is its nodes (the screens' data is
    the demo's): what the nodes view reads and does is real."""
    settings = ConsoleSettings(poll_interval=None, links_interval=None)
    return ConsoleApp(FakeBackend.demo(), None, settings, nodes=nodes)


async def open_view(
    pilot: Pilot[object], shown: Callable[[NodesScreen], bool], what: str
) -> NodesScreen:
    """`N`, then wait (10 s at most) until the view shows what `shown` asks."""
    await pilot.press("N")
    for _ in range(200):
        await pilot.pause(0.05)
        screen = pilot.app.screen
        if isinstance(screen, NodesScreen) and shown(screen):
            return screen
    raise AssertionError(what)


async def drain_highlighted(pilot: Pilot[object], lab: ScaleLab, index: int) -> None:
    """`d` on the highlighted node (node `index` of the lab): the router
    stops routing to it (20 s at most)."""
    await pilot.press("d")
    gone = lab.node_list[index - 1].addr
    for _ in range(400):
        await pilot.pause(0.05)
        if gone not in lab.next_hops():
            break
    assert lab.next_hops() == {n.addr for n in lab.node_list} - {gone}


def established(read: Callable[[], Sequence[NodeSample]]) -> Sequence[NodeSample]:
    """The samples `read` gives once every session reads Established (30 s
    at most): a daemon publishes its session once a second, so right after
    a lab comes up, or an earlier test bounced a session, it may lag."""
    deadline = time.monotonic() + 30
    samples = read()
    while not all(s.session.startswith("Established") for s in samples):
        assert time.monotonic() < deadline, samples
        time.sleep(0.5)
        samples = read()
    return samples
