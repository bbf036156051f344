"""The BIRD adapter against real birds in two namespaces: a session comes
up with BFD, an announced VIP reaches the router's kernel table, a
withdrawn one leaves it, and a node speaker dies with the process that
started it."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from l4lb_tui.bgp import NodeConf, Peer, RouterConf, Speaker
from l4lb_tui.bgp.birdconf import render_node, render_router
from tests.conftest import run
from tests.killed_reload import ROOT

pytestmark = [pytest.mark.kernel, pytest.mark.scaleout]

VIP = "10.100.0.1"


def _wait(what: str, cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"not {what} after {timeout:g} s"
        time.sleep(0.05)


def _kernel_route(ns: str) -> str:
    return run(["ip", "-n", ns, "route", "show", f"{VIP}/32"]).stdout


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Speaker, str, str]]:
    tag = uuid.uuid4().hex[:5]
    rt, node = f"h16r{tag}", f"h16n{tag}"
    for ns in (rt, node):
        run(["ip", "netns", "add", ns])
    try:
        run(["ip", "-n", rt, "link", "add", f"h16r{tag}", "type", "veth",
             "peer", "name", f"h16n{tag}", "netns", node])  # fmt: skip
        for ns, dev, addr in (
            (rt, f"h16r{tag}", "10.77.0.1/24"),
            (node, f"h16n{tag}", "10.77.0.2/24"),
        ):
            run(["ip", "-n", ns, "addr", "add", addr, "dev", dev])
            run(["ip", "-n", ns, "link", "set", dev, "up"])
        router = Speaker(tmp_path, "router", rt)
        router.start(
            render_router(
                RouterConf("10.77.0.1", 65000, (Peer("n1", "10.77.0.2", 65001),), "10.100.0.0/24")
            )
        )
        try:
            yield router, node, f"h16n{tag}"
        finally:
            router.stop()
    finally:
        for ns in (rt, node):
            run(["ip", "netns", "del", ns], check=False)


_STARTER = """
import sys, time
from pathlib import Path
from l4lb_tui.bgp import NodeConf, Peer, Speaker
from l4lb_tui.bgp.birdconf import render_node
node = Speaker(Path(sys.argv[1]), "node", sys.argv[2])
conf = NodeConf("10.77.0.2", 65001, Peer("uplink", "10.77.0.1", 65000), ("10.100.0.1",))
node.start_child(render_node(conf))
print("ready", flush=True)
time.sleep(600)
"""


def test_announce_withdraw_and_die(pair: tuple[Speaker, str, str], tmp_path: Path) -> None:
    router, node_ns, _ = pair
    rt_ns = router.netns or ""
    node = Speaker(tmp_path, "node", node_ns)
    peer = Peer("uplink", "10.77.0.1", 65000)
    proc = node.start_child(render_node(NodeConf("10.77.0.2", 65001, peer)))
    try:
        _wait("established", lambda: any(p.established for p in node.protocols()))
        assert _kernel_route(rt_ns) == ""
        node.configure(render_node(NodeConf("10.77.0.2", 65001, peer, (VIP,))))
        _wait("routed", lambda: "via 10.77.0.2" in _kernel_route(rt_ns))
        assert [r.prefix for r in node.routes(export="uplink")] == [f"{VIP}/32"]
        assert any(p.name == "bfd1" and p.state == "up" for p in router.protocols())
        node.configure(render_node(NodeConf("10.77.0.2", 65001, peer)))
        _wait("withdrawn", lambda: _kernel_route(rt_ns) == "")
        assert node.routes(export="uplink") == []
    finally:
        proc.terminate()
        proc.wait(5)
    # The speaker of a process killed outright goes with it, and so does its route.
    starter = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", _STARTER, str(tmp_path), node_ns],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert starter.stdout is not None and starter.stdout.readline() == "ready\n"
        _wait("routed by the child", lambda: "via 10.77.0.2" in _kernel_route(rt_ns))
    finally:
        starter.kill()
        starter.wait()
    _wait("withdrawn on its starter's death", lambda: _kernel_route(rt_ns) == "", 5.0)
    _wait("its bird gone", lambda: not node.alive(), 5.0)
