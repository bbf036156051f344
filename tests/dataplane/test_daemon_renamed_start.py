"""A daemon started on a config whose link was renamed while no daemon ran
(the config names the old name; the link with the balancer's identity has
a new one): it follows the link, as a running daemon does, says that the
config still names the old name, and runs, rather than exit 2 and be
restarted by systemd in a loop."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from l4lb_tui.balancer import Balancer
from tests.conftest import veth_netns
from tests.dataplane.test_daemon import Running, free_port, l4lb, served, write_config
from tests.killed_reload import kill_group

pytestmark = pytest.mark.kernel


def test_a_daemon_started_after_a_rename_follows_the_link(tmp_path: Path) -> None:
    with veth_netns("f16r") as (ns, dev, _):
        new = f"{dev[:-1]}n"
        cfg = tmp_path / "l4lb.toml"
        write_config(cfg, ns, dev, free_port())
        try:
            done = l4lb("apply", "-f", str(cfg))
            assert done.returncode == 0, done.stderr
            subprocess.run(["ip", "-n", ns, "link", "set", dev, "name", new], check=True)  # noqa: S603
            daemon = Running(cfg, 0)
            try:
                said = "".join(daemon.lines)
                assert (
                    f"interface {dev} was renamed to {new}: the daemon applies the config to it, "
                    f"but the config still names {dev} (edit it, then reload)"
                ) in said, said
                assert served(Balancer(new, netns=ns)) == {"10.2.0.11", "10.2.0.12"}
                # A reload of the unedited file is refused; the daemon runs on.
                res = l4lb("reload")
                assert res.returncode == 2 and f"renamed to {new}" in res.stderr, res
                assert daemon.proc.poll() is None
                daemon.proc.send_signal(signal.SIGTERM)
                assert daemon.proc.wait(30) == 0
            finally:
                kill_group(daemon.proc)
        finally:
            l4lb("--netns", ns, "detach", "-i", new)
            l4lb("--netns", ns, "detach", "-i", dev)
