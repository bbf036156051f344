"""The daemon's pid file is never followed through a symbolic link nor
waited on as a named pipe: the daemon refuses it in one line, `reload`
finds no daemon at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from l4lb_tui.daemon import pidfile


def test_a_symlinked_pid_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    precious = tmp_path / "fxd-precious.txt"
    precious.write_text("precious data\n")
    pid = tmp_path / "daemon.pid"
    pid.symlink_to(precious)
    with pytest.raises(pidfile.PidFileError, match="is a symbolic link"), pidfile.held(pid):
        pass
    assert precious.read_text() == "precious data\n"
    assert pidfile.running(pid) is None


def test_a_fifo_pid_file_neither_hangs_nor_crashes(tmp_path: Path) -> None:
    pid = tmp_path / "daemon.pid"
    os.mkfifo(pid)
    assert pidfile.running(pid) is None  # before: blocked for ever in open()
    with pytest.raises(pidfile.PidFileError, match="is a named pipe"), pidfile.held(pid):
        pass


def test_a_regular_pid_file_still_works(tmp_path: Path) -> None:
    pid = tmp_path / "daemon.pid"
    with pidfile.held(pid):
        assert pid.read_text() == f"{os.getpid()}\n"
    assert not pid.exists()
