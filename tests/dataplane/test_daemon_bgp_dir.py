"""F19: a [bgp] dir the speaker cannot use is refused by `l4lb check` when
it can be told from the text (a quote BIRD cannot take, a kernel file
system), and by the daemon's start in one line (exit 2, no traceback, nothing
applied) when only making it tells."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from l4lb_tui.balancer import Balancer
from tests.conftest import veth_netns
from tests.dataplane.test_daemon import free_port, l4lb, write_config
from tests.killed_reload import ROOT

BGP = '\n[bgp]\nasn = 65001\npeer = "10.97.1.1"\npeer_asn = 65000\nsource = "10.97.1.2"\n'


@pytest.mark.parametrize("where", ['/tmp/z16-q\\"x', "/proc/z16x"])
def test_check_refuses_a_bgp_dir_the_speaker_cannot_use(tmp_path: Path, where: str) -> None:
    cfg = tmp_path / "l4lb.toml"
    write_config(cfg, "z16none", "z16nonea", free_port())
    cfg.write_text(cfg.read_text() + BGP + f'dir = "{where}"\n')
    done = l4lb("check", str(cfg))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "bgp.dir" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.kernel
def test_the_daemon_refuses_a_bgp_dir_it_cannot_make_in_one_line(tmp_path: Path) -> None:
    with veth_netns("z16f") as (ns, dev, _):
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        cfg = tmp_path / "l4lb.toml"
        write_config(cfg, ns, dev, free_port())
        cfg.write_text(cfg.read_text() + BGP + f'dir = "{blocker / "bgp"}"\n')
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "l4lb_tui.cli", "daemon", "-c", str(cfg)],
            cwd=ROOT, capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        try:
            assert done.returncode == 2, done.stderr
            assert "Traceback" not in done.stderr
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
            assert str(blocker / "bgp") in done.stderr
            assert not Balancer(dev, netns=ns).is_loaded()  # nothing applied
        finally:
            l4lb("--netns", ns, "detach", "-i", dev)
