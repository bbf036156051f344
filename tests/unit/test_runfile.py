"""runfile.hold and runfile.held: a flock held while its holder lives, the
file gone when it lets go; held() never takes or keeps a lock itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from l4lb_tui import runfile


def test_held_while_the_holder_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "x.daemon"
    assert not runfile.held(path)  # no file
    fd = runfile.hold(path, "123\n/run/l4lb\n")
    assert runfile.held(path) and runfile.held(path)  # asking twice takes nothing
    with pytest.raises(runfile.Held) as caught:
        runfile.hold(path, "456\n")
    assert caught.value.holder.startswith("123")
    runfile.let_go(fd, path)
    assert not path.exists() and not runfile.held(path)


def test_a_file_nobody_holds_is_not_held(tmp_path: Path) -> None:
    path = tmp_path / "left.daemon"
    path.write_text("999\n")  # a killed holder's file: its flock went with it
    assert not runfile.held(path)
    link = tmp_path / "link.daemon"
    os.symlink(path, link)
    assert not runfile.held(link)  # never followed
