"""v16 N8: `l4lb --netns A node status B` answered for B, silently ignoring
--netns: two names for the node are refused in one line."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import run
from tests.dataplane.test_daemon import l4lb

pytestmark = pytest.mark.kernel


def test_netns_and_another_node_name_are_refused() -> None:
    ns = f"z16n{uuid.uuid4().hex[:6]}"
    run(["ip", "netns", "add", ns])
    try:
        done = l4lb("--netns", ns, "node", "status", "z16-other")
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == (
            f"l4lb: error: --netns {ns} and NODE z16-other name two nodes: give one of them"
        )
    finally:
        run(["ip", "netns", "del", ns], check=False)
