"""The daemon's flow-table watch keeps its own clock: health results arrive
more often than the control loop's tick, and a watch that waited for a quiet
queue never looked (x17 HIGH-2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from l4lb_tui import bpfsys
from l4lb_tui.balancer import Balancer
from tests.conftest import veth_netns
from tests.dataplane.test_daemon import Running, free_port, l4lb
from tests.dataplane.test_flow_sizing import frame
from tests.killed_reload import kill_group

pytestmark = pytest.mark.kernel

BACKENDS = (
    'backends = [{ ip = "10.0.0.11", mac = "02:00:00:00:00:0b" },'
    ' { ip = "10.0.0.12", mac = "02:00:00:00:00:0c" }]\n'
)


def _config(path: Path, ns: str, dev: str, port: int) -> None:
    # The UDP service is the one filled; the TCP one is checked every 0.2 s
    # (its backend cannot answer: the links are down, each probe fails at once).
    path.write_text(
        f'[[balancer]]\ninterface = "{dev}"\nnetns = "{ns}"\nflows = "4k"\n\n'
        f'[[balancer.service]]\nvip = "10.0.0.4:9000/udp"\n{BACKENDS}\n'
        f'[[balancer.service]]\nvip = "10.0.0.4:9001/tcp"\n{BACKENDS}'
        '[balancer.service.health]\ncheck = "tcp"\ntarget = "address"\n'
        "interval = 0.2\ntimeout = 0.1\n\n"
        f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
    )


def test_a_health_checked_daemon_still_says_the_table_is_full(tmp_path: Path) -> None:
    with veth_netns("d17fw") as (ns, dev, _):
        port = free_port()
        cfg = tmp_path / "d17fw.toml"
        _config(cfg, ns, dev, port)
        daemon = Running(cfg, port)
        try:
            daemon.wait_for("health")  # the checks run: results keep the queue busy
            fd = bpfsys.obj_get(Balancer(dev, netns=ns).prog_pin)
            try:
                frames = [frame(i) for i in range(3000)]
                for _ in range(2):  # the second packet stores the flow: ~70% of 4k
                    for f in frames:
                        bpfsys.test_run(fd, f)
            finally:
                os.close(fd)
            # The watch looks every 10 s (flowwatch.EVERY): the first look may
            # be the baseline, the next sees the table full.
            line = daemon.wait_for("flows: ", timeout=60)
        finally:
            kill_group(daemon.proc)
            l4lb("--netns", ns, "detach", "-i", dev)
    assert f"{dev} (netns {ns}): affinity at risk: flow table " in line, line
    assert "of 4,096)" in line, line
