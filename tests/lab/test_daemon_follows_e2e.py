"""The daemon follows its balancer across a rename of the link (a verdict
it cannot carry out is said and retried: tests/unit/test_health_stuck.py)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.lab import Lab, faults
from l4lb_tui.lab.labconfig import lab_config
from tests.killed_reload import ROOT
from tests.lab.test_daemon_health_e2e import (
    FALL,
    INTERVAL,
    RISE,
    SLACK,
    TIMEOUT,
    free_port,
    stop,
    up,
    wait_for,
)

pytestmark = pytest.mark.kernel
DRAINED_IN = INTERVAL * FALL + TIMEOUT + SLACK + INTERVAL + 3


@pytest.fixture
def running(lab: Lab, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, int]]:
    port = free_port()
    cfg = tmp_path / "l4lb.toml"
    cfg.write_text(
        lab_config(
            lab, metrics=f"127.0.0.1:{port}", interval=INTERVAL, timeout=TIMEOUT, rise=RISE,
            fall=FALL,
        )
    )  # fmt: skip
    log = tmp_path / "journal"
    with log.open("w") as err:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "l4lb_tui.cli", "daemon", "-c", str(cfg)],
            cwd=ROOT, stderr=err, text=True, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(lambda: len(up(port)) == 6, 20, "every backend up")
        # Started, and every check has answered: the identity is known.
        wait_for(lambda: log.read_text().count(": up (") >= 6, 20, "every check up")
        yield proc, log, port
    finally:
        stop(proc)
        for i in range(1, 4):
            faults.fix_backend(lab, i)
        with contextlib.suppress(BalancerError):  # a test may have moved the link away
            Balancer(lab.lb_ifname, netns=lab.lb_ns).detach()


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
