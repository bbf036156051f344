"""The metrics endpoint against clients that connect and say nothing: they
are closed after the read timeout and only a few are served at once, so
they cannot pile up threads and descriptors in the daemon (loopback only)."""

from __future__ import annotations

import errno
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui.daemon import http
from l4lb_tui.daemon.runner import Daemon


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr(http, "READ_TIMEOUT", 0.5, raising=False)
    port = _port()
    server = http.serve(f"127.0.0.1:{port}", lambda: "l4lb_up 1\n")
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


def _threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name != "metrics")


def test_idle_connections_neither_pile_up_nor_stay(served: int) -> None:
    before = _threads()
    idle = [socket.create_connection(("127.0.0.1", served)) for _ in range(40)]
    try:
        time.sleep(0.3)
        assert _threads() - before <= http.MAX_CLIENTS
        deadline = time.monotonic() + 10
        for s in idle:  # each one is closed by the server: EOF, not a hang
            s.settimeout(max(0.1, deadline - time.monotonic()))
            assert s.recv(1) == b""
    finally:
        for s in idle:
            s.close()
    with urllib.request.urlopen(f"http://127.0.0.1:{served}/metrics", timeout=10) as r:
        assert r.read() == b"l4lb_up 1\n"


def test_a_failing_loop_step_is_one_line_and_the_daemon_runs_on(tmp_path: Path) -> None:
    said: list[str] = []
    daemon = Daemon(tmp_path / "l4lb.toml", report=said.append, status_path=tmp_path / "h.json")
    fails = [OSError(errno.EMFILE, "Too many open files")] * 3

    def results(_job: object) -> None:
        if fails:
            raise fails.pop()

    daemon.on_results = results  # type: ignore[method-assign]
    for _ in range(4):
        daemon.work.put(())
    daemon.work.put("stop")
    assert daemon._loop() == 0
    assert said == [
        "health results failed (tried again): OSError: [Errno 24] Too many open files",
        "health results works again",
    ]


def test_the_unit_raises_the_descriptor_limit() -> None:
    unit = (Path(__file__).parents[2] / "contrib" / "l4lbd.service").read_text()
    assert "\nLimitNOFILE=65536\n" in unit


def test_a_start_on_a_broken_file_says_not_started(tmp_path: Path) -> None:
    said: list[str] = []
    cfg = tmp_path / "fxd-bad.toml"
    cfg.write_text("[[balancer]]\n")
    daemon = Daemon(cfg, report=said.append, answer_path=tmp_path / "reload.json")
    assert daemon.read("start") is None
    assert said and "has errors, not started" in said[0], said
