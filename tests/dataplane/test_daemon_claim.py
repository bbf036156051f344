"""A second `l4lb daemon` on a balancer a live daemon manages is refused,
even with its own run directory (N7): both would write its maps, and the
second's stop left the first's health checks wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import veth_netns
from tests.dataplane.test_daemon import Running, free_port, l4lb, write_config
from tests.killed_reload import ROOT, kill_group


def test_a_second_daemon_on_a_managed_balancer_is_refused(tmp_path: Path) -> None:
    with veth_netns("z16c") as (ns, dev, _):
        first_cfg, second_cfg = tmp_path / "first.toml", tmp_path / "second.toml"
        port = free_port()
        write_config(first_cfg, ns, dev, port)
        write_config(second_cfg, ns, dev, free_port())
        first = Running(first_cfg, port)
        try:
            other_run = tmp_path / "other-run"
            env = {**os.environ, "L4LB_RUN_DIR": str(other_run)}
            second = subprocess.run(  # noqa: S603
                [sys.executable, "-m", "l4lb_tui.cli", "daemon", "-c", str(second_cfg)],
                cwd=ROOT, capture_output=True, text=True, check=False, timeout=20, env=env,
            )  # fmt: skip
            assert second.returncode == 2, second.stderr
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1, second.stderr
            assert f"PID {first.proc.pid}" in lines[0]
            assert os.environ["L4LB_RUN_DIR"] in lines[0]
            assert dev in lines[0]
            # The first runs on, untouched: it still answers a reload.
            assert first.proc.poll() is None
            assert l4lb("reload").returncode == 0
        finally:
            kill_group(first.proc)
            l4lb("--netns", ns, "detach", "-i", dev)
