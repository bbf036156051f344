"""`l4lb daemon` on a real balancer: applies its config at start, keeps an
operator's drain through a reload, restarts without a reload that changes
anything, leaves the data plane serving when killed, rebuilds it after a
simulated reboot, and serves metrics that agree with stats."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from l4lb_tui import bpfsys
from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from tests.conftest import veth_netns
from tests.killed_reload import ROOT, kill_group

pytestmark = pytest.mark.kernel

SVC = ServiceKey("10.0.0.4", 9000, 17)
BACKENDS = """\
  { ip = "10.2.0.11", mac = "02:00:00:00:00:0b" },
  { ip = "10.2.0.12", mac = "02:00:00:00:00:0c" },
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, ns: str, dev: str, port: int, backends: str = BACKENDS) -> None:
    path.write_text(
        f'[[balancer]]\ninterface = "{dev}"\nnetns = "{ns}"\n\n'
        f'[[balancer.service]]\nvip = "10.0.0.4:9000/udp"\nbackends = [\n{backends}]\n\n'
        f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
    )


def l4lb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


class Running:
    def __init__(self, cfg: Path, port: int) -> None:
        self.port = port
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "l4lb_tui.cli", "daemon", "-c", str(cfg)],
            cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.wait_for("serving metrics")

    def wait_for(self, words: str, timeout: float = 30) -> str:
        assert self.proc.stderr is not None
        os.set_blocking(self.proc.stderr.fileno(), False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if line:
                self.lines.append(line)
                if words in line:
                    return line
            elif self.proc.poll() is not None:
                raise AssertionError(f"the daemon ended: {''.join(self.lines)}")
            else:
                time.sleep(0.05)
        raise AssertionError(f"no {words!r} from the daemon: {''.join(self.lines)}")

    def scrape(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return str(r.read().decode())


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[tuple[str, str, Path, int]]:
    with veth_netns("l4d") as (ns, dev, _):
        port = free_port()
        cfg = tmp_path / "l4lb.toml"
        write_config(cfg, ns, dev, port)
        try:
            yield ns, dev, cfg, port
        finally:
            l4lb("--netns", ns, "detach", "-i", dev)


_FRESH = iter(range(1000, 60000, 100))


def served(bal: Balancer) -> set[str]:
    """Where 100 new flows go (flows of earlier calls stay where they are)."""
    base = next(_FRESH)
    fd = bpfsys.obj_get(bal.prog_pin)
    try:
        out = set()
        for i in range(100):
            frame = Ether() / IP(src=f"10.9.0.{i + 1}", dst=SVC.vip)
            res = bpfsys.test_run(fd, bytes(frame / UDP(sport=base + i, dport=9000)))
            assert res.verdict == "XDP_TX"
            out.add(str(Ether(res.data)[IP].dst))
        return out
    finally:
        os.close(fd)


def test_the_daemon_keeps_its_config_applied(bed: tuple[str, str, Path, int]) -> None:
    ns, dev, cfg, port = bed
    daemon = Running(cfg, port)
    try:
        bal = Balancer(dev, netns=ns)
        assert served(bal) == {"10.2.0.11", "10.2.0.12"}
        text = daemon.scrape()
        assert (
            f'l4lb_backend_weight{{interface="{dev}",netns="{ns}",service="{SVC}",'
            f'backend="10.2.0.11"}} 1' in text
        )

        # An operator's drain survives the daemon's reload.
        assert (
            l4lb(
                "--netns",
                ns,
                "backend",
                "drain",
                "-i",
                dev,
                "--vip",
                "10.0.0.4:9000/udp",
                "--ip",
                "10.2.0.12",
            ).returncode
            == 0
        )
        write_config(
            cfg, ns, dev, port, BACKENDS + '  { ip = "10.2.0.13", mac = "02:00:00:00:00:0d" },\n'
        )
        res = l4lb("reload")
        assert res.returncode == 0, res.stderr
        daemon.wait_for("reload: ")
        assert {d.ip: d.drained for d in bal.members(SVC)} == {
            "10.2.0.11": False, "10.2.0.12": True, "10.2.0.13": False,
        }  # fmt: skip
        gen = bal.state().services[0].value.gen

        # Killed outright: the data plane is as it was.
        kill_group(daemon.proc)
        assert served(bal) == {"10.2.0.11", "10.2.0.13"}
        # Restarted against the running balancer: nothing reloaded.
        daemon = Running(cfg, port)
        assert any("nothing to change" in line for line in daemon.lines)
        assert bal.state().services[0].value.gen == gen
        assert l4lb("reload").returncode == 0
        daemon.wait_for("reload: ")
        assert bal.state().services[0].value.gen == gen

        # Stopped: exits 0, and the data plane keeps serving.
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=15) == 0
        assert served(bal) == {"10.2.0.11", "10.2.0.13"}
        assert "no l4lb daemon runs" in l4lb("reload").stderr
    finally:
        kill_group(daemon.proc)


def test_a_reboot_is_rebuilt_from_the_config(bed: tuple[str, str, Path, int]) -> None:
    ns, dev, cfg, port = bed
    daemon = Running(cfg, port)
    kill_group(daemon.proc)
    # A reboot: the program is gone from the link and its pins with it.
    assert l4lb("--netns", ns, "detach", "-i", dev).returncode == 0
    daemon = Running(cfg, port)
    try:
        assert served(Balancer(dev, netns=ns)) == {"10.2.0.11", "10.2.0.12"}
    finally:
        kill_group(daemon.proc)


def test_a_broken_config_on_reload_keeps_the_running_state(
    bed: tuple[str, str, Path, int],
) -> None:
    ns, dev, cfg, port = bed
    daemon = Running(cfg, port)
    try:
        cfg.write_text(cfg.read_text().replace('"10.2.0.12"', '"10.2.0.300"'))
        assert l4lb("reload").returncode == 2
        line = daemon.wait_for("has errors")
        assert "keeping the running state" in line and "10.2.0.300" in line
        assert served(Balancer(dev, netns=ns)) == {"10.2.0.11", "10.2.0.12"}
        assert daemon.proc.poll() is None
    finally:
        kill_group(daemon.proc)


def test_a_reload_moves_the_metrics_endpoint(bed: tuple[str, str, Path, int]) -> None:
    _, _, cfg, port = bed
    daemon = Running(cfg, port)
    try:
        new = free_port()
        cfg.write_text(cfg.read_text().replace(f":{port}", f":{new}"))
        assert l4lb("reload").returncode == 0
        daemon.wait_for(f"serving metrics on http://127.0.0.1:{new}/")
        daemon.port = new
        assert "l4lb_backend_packets_total" in daemon.scrape()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        # An address it cannot have (another process holds it): the endpoint stays.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            held = taken.getsockname()[1]
            cfg.write_text(cfg.read_text().replace(f":{new}", f":{held}"))
            assert l4lb("reload").returncode == 0
            line = daemon.wait_for("metrics stay on")
            assert f"127.0.0.1:{new}" in line
            assert "l4lb_backend_packets_total" in daemon.scrape()
    finally:
        kill_group(daemon.proc)
