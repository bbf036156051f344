"""The console's save (`s`) and `l4lb export -o FILE` replace a regular file
atomically and nothing else: a named pipe, a device or a socket is refused
with nothing written, and a symbolic link's target is replaced, the link
kept (tester's F5).  Real files, pipes and device nodes in a temporary
directory."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from l4lb_tui.console_backend import ConsoleError
from l4lb_tui.console_files import save_csv
from l4lb_tui.destinations import Destination

A = Destination("10.0.1.1", "00:15:4d:00:01:01", 1)
SAVED = "10.0.1.1, 00:15:4d:00:01:01\n"


def refused(path: Path, *said: str) -> str:
    """save_csv to `path` refused, in one line, within seconds (a pipe
    opened for writing would block until a reader came)."""
    outcome: list[BaseException | str] = []

    def save() -> None:
        try:
            outcome.append(save_csv(path, [A]))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=save, daemon=True)
    worker.start()
    worker.join(30)
    assert outcome, "the save blocked"
    error = outcome[0]
    assert isinstance(error, ConsoleError), error
    text = str(error)
    assert "\n" not in text and "nothing was saved" in text, text
    for part in said:
        assert part in text, text
    return text


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_a_pipe_a_device_and_a_socket_are_refused_and_kept(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    refused(fifo, str(fifo), "not a regular file (a named pipe)")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)

    device = tmp_path / "null.csv"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    refused(device, "not a regular file (a device)")
    assert stat.S_ISCHR(device.lstat().st_mode)

    sock_path = tmp_path / "s.csv"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        refused(sock_path, "not a regular file (a socket)")
    assert stat.S_ISSOCK(sock_path.lstat().st_mode)
    assert leftovers(tmp_path) == []


def test_a_symbolic_link_s_target_is_replaced_and_the_link_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    said = save_csv(link, [A])
    assert said == (
        f"saved 1 backend to {real} (where the symbolic link {link} points; the link is kept)"
    )
    assert link.is_symlink() and real.read_text() == SAVED
    assert stat.S_IMODE(real.stat().st_mode) == 0o640

    # A link to a pipe is the pipe: refused, both kept.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    to_fifo = tmp_path / "to-pipe.csv"
    to_fifo.symlink_to(fifo)
    refused(to_fifo, str(fifo), "a named pipe")
    assert to_fifo.is_symlink() and stat.S_ISFIFO(fifo.lstat().st_mode)

    # A link to nothing yet: the file is made where it points.
    dangling = tmp_path / "new.csv"
    dangling.symlink_to(tmp_path / "made.csv")
    save_csv(dangling, [A])
    assert dangling.is_symlink() and (tmp_path / "made.csv").read_text() == SAVED

    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    refused(loop, "a loop")
    assert leftovers(tmp_path) == []


def test_a_regular_file_keeps_its_owner(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test runs as root (it gives a file to another owner)")
    target = tmp_path / "theirs.csv"
    target.write_text("old\n")
    os.chown(target, 4321, 4321)
    save_csv(target, [A])
    assert (target.stat().st_uid, target.stat().st_gid) == (4321, 4321)
    assert target.read_text() == SAVED


def test_export_to_a_pipe_is_refused_and_to_a_link_writes_its_target(tmp_path: Path) -> None:
    fifo = tmp_path / "out.toml"
    os.mkfifo(fifo)
    res = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "export", "-o", str(fifo)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert (
        res.stderr == f"l4lb: error: {fifo}: not a regular file (a named pipe): nothing was saved\n"
    )
    assert stat.S_ISFIFO(fifo.lstat().st_mode)

    real, link = tmp_path / "real.toml", tmp_path / "link.toml"
    real.write_text("old\n")
    link.symlink_to(real)
    res = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "export", "-o", str(link)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert f"{real}: " in res.stdout and "the link is kept" in res.stdout
    assert link.is_symlink() and real.read_text() != "old\n"


def test_the_save_forms_note_says_what_the_save_will_do(tmp_path: Path) -> None:
    """The console's save forms said 'exists: will be replaced' for a named
    pipe and /dev/null, which the save refuses, and 'new file' where the
    directory is missing."""
    from l4lb_tui.filewrite import save_note

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "named pipe" in (save_note(fifo) or "")
    assert "nothing was saved" in (save_note(Path("/dev/null")) or "")
    assert "does not exist" in (save_note(tmp_path / "missing" / "x.toml") or "")
    assert "a directory" in (save_note(tmp_path) or "")
    assert save_note(tmp_path / "new.toml") is None
    (tmp_path / "old.toml").write_text("x")
    assert save_note(tmp_path / "old.toml") is None
