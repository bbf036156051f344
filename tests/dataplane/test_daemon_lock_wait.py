"""A reload that meets an operator's change in progress (the interface's
lock held) waits for it and is carried out, not refused at once; one that
leaves a backend out says so and exits 1, as `l4lb apply` does."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from l4lb_tui.balancer import Balancer
from l4lb_tui.lock import interface_lock
from tests.dataplane.test_daemon import Running, bed, l4lb, write_config
from tests.killed_reload import kill_group

pytestmark = pytest.mark.kernel
__all__ = ["bed"]  # the fixture
ONE = '  { ip = "10.2.0.11", mac = "02:00:00:00:00:0b" },\n'


def test_a_reload_waits_for_a_writers_lock(bed: tuple[str, str, Path, int]) -> None:
    ns, dev, cfg, port = bed
    daemon = Running(cfg, port)
    try:
        write_config(cfg, ns, dev, port, ONE)
        name = Balancer(dev, netns=ns).where.ident.dirname
        held = threading.Event()

        def writer() -> None:
            with interface_lock(name):
                held.set()
                time.sleep(2)

        t = threading.Thread(target=writer)
        t.start()
        assert held.wait(10)
        res = l4lb("reload")
        t.join()
        assert res.returncode == 0, res.stderr
        assert "applied" in res.stdout, res.stdout
        assert {d.ip for d in Balancer(dev, netns=ns).state().services[0].backends} == {"10.2.0.11"}
    finally:
        kill_group(daemon.proc)


def test_a_reload_that_leaves_a_backend_out_says_so_and_exits_1(
    bed: tuple[str, str, Path, int],
) -> None:
    ns, dev, cfg, port = bed
    daemon = Running(cfg, port)
    try:
        write_config(cfg, ns, dev, port, ONE + '  { ip = "10.2.0.99", mac = "neighbour" },\n')
        res = l4lb("reload")
        assert res.returncode == 1, res.stdout + res.stderr
        assert "applied" in res.stdout, res.stdout
        assert "10.2.0.99: LEFT OUT" in res.stderr, res.stderr
    finally:
        kill_group(daemon.proc)


def test_a_reload_that_changes_only_a_health_check_says_so(
    bed: tuple[str, str, Path, int],
) -> None:
    _, _, cfg, port = bed
    health = '\n[balancer.service.health]\ncheck = "udp"\ntarget = "address"\ninterval = 1.0\n'
    text = cfg.read_text().replace("\n[metrics]", f"{health}\n[metrics]")
    cfg.write_text(text)
    daemon = Running(cfg, port)
    try:
        cfg.write_text(text.replace("interval = 1.0", "interval = 2.0"))
        res = l4lb("reload")
        assert res.returncode == 0, res.stderr
        assert "nothing to change" not in res.stdout and "1 change" in res.stdout, res.stdout
        daemon.wait_for("health interval 1.0 -> 2.0")
    finally:
        kill_group(daemon.proc)
