"""`l4lb demo --nodes 3` end to end: the scale-out lab up, traffic spread
over three nodes, the last one killed and routed around, the traffic
carrying on through the other two, and everything gone when it is left.
Run as root."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from l4lb_tui.balancer import Balancer
from l4lb_tui.lab.scaleout import ScaleLab
from l4lb_tui.netlink import namespaces
from tests.killed_reload import ROOT, kill_group

pytestmark = [pytest.mark.kernel, pytest.mark.scaleout]


def _packets(lab: ScaleLab, index: int) -> int:
    node = lab.node_list[index - 1]
    counters = Balancer(node.ifname, netns=node.ns).counters()
    return sum(p for p, _ in counters.backends.values())


def _reader(proc: subprocess.Popen[str], lines: list[str]) -> threading.Thread:
    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _wait_for(lines: list[str], words: str, proc: subprocess.Popen[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in lines if words in line]
        if found:
            return found[0]
        assert proc.poll() is None, "".join(lines)
        time.sleep(0.2)
    raise AssertionError(f"no {words!r} in: {''.join(lines)}")


def test_demo_nodes_shows_a_node_killed_and_traffic_carrying_on() -> None:
    prefix = f"h16b{uuid.uuid4().hex[:3]}"
    lab = ScaleLab(prefix, nodes=3, backends=3)
    demo = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "demo", "--nodes", "3", "--prefix", prefix,
         "--view", "stats", "--kill-after", "4"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = _reader(demo, lines)
    try:
        _wait_for(lines, "opening node n1's console", demo, 90)
        said = _wait_for(lines, "demo: killed node n3", demo, 40)
        assert "routes 10.0.0.4 to 2 nodes" in said, said
        assert lab.next_hops() == {lab.node_list[0].addr, lab.node_list[1].addr}
        before = [_packets(lab, i) for i in (1, 2)]
        time.sleep(2.0)
        after = [_packets(lab, i) for i in (1, 2)]
        # Both survivors carry the traffic on.
        assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(timeout=60)
        reader.join(10)
        out = "".join(lines)
        assert f"lab {prefix} taken down" in out, out
        assert not [ns for ns in namespaces.listed() if ns.startswith(f"{prefix}-")]
    finally:
        if demo.poll() is None:
            kill_group(demo)  # type: ignore[arg-type]
        lab.down()
