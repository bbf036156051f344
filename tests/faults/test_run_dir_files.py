"""Files of the run directory are not trusted: a symbolic link is never
followed, a named pipe never waited on.  The event log is then skipped with a
warning (the change is made); a lock file is refused in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from l4lb_tui import events
from l4lb_tui.lock import LockedError, interface_lock, lock_path
from tests.conftest import DATA, veth_netns

ROOT = Path(__file__).parents[2]


def event() -> events.Event:
    return events.Event(1.0, "cli", "h12 test")


def test_the_event_log_as_a_named_pipe_is_skipped(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    os.mkfifo(log)
    assert "not a regular file" in (events.record(event(), log) or "")
    # With a reader on the pipe, too: it must not be written to.
    reader = os.open(log, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert "not a regular file" in (events.record(event(), log) or "")
        assert os.read(reader, 100) == b""
    finally:
        os.close(reader)
    assert events.read(log) == []


def test_the_event_log_as_a_symbolic_link_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep\n")
    log = tmp_path / "events.jsonl"
    log.symlink_to(target)
    assert "symbolic link" in (events.record(event(), log) or "")
    assert target.read_text() == "keep\n"
    assert events.read(log) == []
    plain = tmp_path / "plain.jsonl"
    assert events.record(event(), plain) is None
    assert [e.what for e in events.read(plain)] == ["h12 test"]


def test_a_lock_file_that_is_a_symbolic_link(tmp_path: Path) -> None:
    name = f"h12lock{uuid.uuid4().hex[:6]}"
    target = tmp_path / "precious"
    target.write_text("keep\n")
    lock_path(name).parent.mkdir(parents=True, exist_ok=True)
    lock_path(name).symlink_to(target)
    try:
        with pytest.raises(LockedError, match="is a symbolic link"), interface_lock(name):
            pass
        assert target.read_text() == "keep\n"
        assert lock_path(name).is_symlink()
    finally:
        lock_path(name).unlink()


def test_a_lock_file_that_is_a_named_pipe() -> None:
    name = f"h12lock{uuid.uuid4().hex[:6]}"
    lock_path(name).parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(lock_path(name))
    try:
        with pytest.raises(LockedError, match="is a named pipe"), interface_lock(name, shown="v0"):
            pass
    finally:
        lock_path(name).unlink()


@pytest.mark.kernel
def test_a_change_with_the_event_log_a_named_pipe(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    os.mkfifo(log)
    env = {**os.environ, "L4LB_EVENTS": str(log)}

    def l4lb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "l4lb_tui.cli", *args],
            capture_output=True, text=True, check=False, cwd=ROOT, timeout=60, env=env,
        )  # fmt: skip

    with veth_netns("h12ev") as (ns, dev, _):
        try:
            res = l4lb("--netns", ns, "attach", "-i", dev)
            assert res.returncode == 0, res.stderr
            assert "event log" in res.stderr and "not a regular file" in res.stderr
            res = l4lb("--netns", ns, "map", "-i", dev, "-f", str(DATA / "32_destinations.csv"),
                       "--vip", "10.99.0.4:80/tcp")  # fmt: skip
            assert res.returncode == 0, res.stderr
            assert res.stderr.startswith("warning: the event log"), res.stderr
        finally:
            l4lb("--netns", ns, "detach", "-i", dev)
