"""The daemon follows its balancer across a rename of the link (a verdict
it cannot carry out is said and retried: tests/unit/test_health_stuck.py)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.lab import Lab, faults
from tests.lab.daemon_kit import FALL, INTERVAL, SLACK, TIMEOUT, lab_daemon, wait_for

pytestmark = pytest.mark.kernel
DRAINED_IN = INTERVAL * FALL + TIMEOUT + SLACK + INTERVAL + 3


@pytest.fixture
def running(lab: Lab, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, int]]:
    log = tmp_path / "journal"
    with (
        log.open("w") as journal,
        lab_daemon(lab, tmp_path / "l4lb.toml", journal=journal) as (
            proc,
            _,
            port,
        ),
    ):
        # Started, and every check has answered: the identity is known.
        wait_for(lambda: log.read_text().count(": up (") >= 6, 20, "every check up")
        yield proc, log, port


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)  # noqa: S603


def test_a_renamed_link_is_followed_and_the_old_name_is_said(
    lab: Lab, running: tuple[subprocess.Popen[str], Path, int]
) -> None:
    proc, log, _ = running
    new = f"fxd{uuid.uuid4().hex[:8]}"
    _ip("-n", lab.lb_ns, "link", "set", lab.lb_ifname, "name", new)
    try:
        faults.break_backend(lab, 2, "server")
        svc = ServiceKey(lab.vip, lab.http_port, 6)
        victim = lab.backend_nodes[1].addr
        bal = Balancer(new, netns=lab.lb_ns)
        wait_for(
            lambda: {d.ip for d in bal.members(svc) if d.down} == {victim},
            DRAINED_IN,
            f"{victim} drained on the renamed link: {log.read_text()}",
        )
        assert proc.poll() is None, log.read_text()
        said = log.read_text()
        assert f"the config still names {lab.lb_ifname}" in said
        assert "Traceback" not in said
    finally:
        _ip("-n", lab.lb_ns, "link", "set", new, "name", lab.lb_ifname)
