"""`l4lb check` tells a config from a destinations CSV by more than the
exact extension, and refuses CSV options on a config (t15 finding 19); the
event log never holds a writer on a named pipe (finding 27)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from l4lb_tui import events
from tests.killed_reload import ROOT

CONFIG = '[[balancer]]\ninterface = "eth1"\nmode = "drivr"\n'


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "check", *args],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["base.TOML", "l4lb.conf"])
def test_a_config_by_another_name_is_checked_as_a_config(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(CONFIG)
    res = check(str(tmp_path / name))
    assert res.returncode == 2 and "line 3: balancer[0].mode" in res.stderr, res.stderr


def test_csv_options_on_a_config_are_refused(tmp_path: Path) -> None:
    (tmp_path / "l4lb.toml").write_text(CONFIG.replace("drivr", "driver"))
    res = check(str(tmp_path / "l4lb.toml"), "--vip", "10.0.0.4:80/tcp")
    assert res.returncode == 2 and "--vip" in res.stderr, res.stderr


def test_an_event_log_that_is_a_pipe_holds_no_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "events.jsonl"
    os.mkfifo(fifo)
    writer = threading.Thread(
        target=events.record, args=(events.Event(time.time(), "cli", "x"), fifo), daemon=True
    )
    writer.start()
    writer.join(20)
    assert not writer.is_alive(), "the writer waits for a reader of the pipe"
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        events.record(events.Event(time.time(), "cli", "x"), fifo)
        assert os.read(reader, 100) == b""  # a pipe is left alone
    finally:
        os.close(reader)
