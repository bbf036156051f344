"""`l4lb daemon` refusing what it cannot use, on a real balancer: `l4lb
reload` waits for the daemon's answer and exits 2 with its reason, the daemon
lives on through any file (a deep one, one its health checker could not
run), keeps an operator's drain by weight 0, and a start whose metrics
address is taken touches no data plane."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from l4lb_tui.balancer import Balancer
from tests.dataplane import test_daemon
from tests.dataplane.test_daemon import SVC, Running, l4lb, served, write_config
from tests.killed_reload import kill_group

pytestmark = pytest.mark.kernel

bed = test_daemon.bed  # the same bed: a namespace, a veth, a config for it

EVERY_PORT_CHECK = """
[[balancer.service]]
vip = "10.0.0.5"
backends = [{ ip = "10.2.0.21", mac = "02:00:00:00:00:15" }]
[balancer.service.health]
check = "tcp"
"""


def test_reload_answers_and_the_daemon_lives_through_any_file(
    bed: tuple[str, str, Path, int],
) -> None:
    ns, dev, cfg, port = bed
    good = cfg.read_text()
    daemon = Running(cfg, port)
    try:
        bal = Balancer(dev, netns=ns)
        before = served(bal)
        for text, words in [
            (good.replace("[metrics]", EVERY_PORT_CHECK + "[metrics]"), "health.port"),
            ("x = " + "[" * 1000 + "]" * 1000 + "\n", "nested too deeply"),
            (good.replace('"10.2.0.12"', '"10.2.0.300"'), "10.2.0.300"),
        ]:
            cfg.write_text(text)
            res = l4lb("reload")
            assert res.returncode == 2, res
            (line,) = res.stderr.strip().splitlines()
            assert "the daemon refused it" in line and words in line, res.stderr
            assert daemon.proc.poll() is None, "".join(daemon.lines)
            assert served(bal) == before
        cfg.write_text(good)
        res = l4lb("reload")
        assert res.returncode == 0 and "applied" in res.stdout, res
        assert "Traceback" not in "".join(daemon.lines)
    finally:
        kill_group(daemon.proc)


def test_a_drain_by_weight_zero_survives_a_reload(bed: tuple[str, str, Path, int]) -> None:
    ns, dev, cfg, port = bed
    daemon = Running(cfg, port)
    try:
        vip = "10.0.0.4:9000/udp"
        res = l4lb("--netns", ns, "backend", "weight", "-i", dev, "--vip", vip,
                   "--ip", "10.2.0.12", "--weight", "0")  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert l4lb("reload").returncode == 0
        daemon.wait_for("reload: ")
        weights = {d.ip: d.weight for d in Balancer(dev, netns=ns).members(SVC)}
        assert weights == {"10.2.0.11": 1, "10.2.0.12": 0}
    finally:
        kill_group(daemon.proc)


def test_a_start_whose_metrics_address_is_taken_changes_nothing(
    bed: tuple[str, str, Path, int],
) -> None:
    ns, dev, cfg, _ = bed
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        write_config(cfg, ns, dev, taken.getsockname()[1])
        res = l4lb("daemon", "-c", str(cfg))
    assert res.returncode == 2 and "cannot serve metrics" in res.stderr, res
    assert not Balancer(dev, netns=ns).is_loaded()
