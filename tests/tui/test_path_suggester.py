"""PathSuggester reads folders in a thread, once while they are unchanged."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui.widgets.inputs import PathSuggester


async def test_folders_are_listed_in_a_thread_once_while_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "alpha.csv").write_text("")
    (tmp_path / "beta").mkdir()
    minute_ago = tmp_path.stat().st_mtime_ns - 60 * 10**9
    os.utime(tmp_path, ns=(minute_ago, minute_ago))  # a folder changed a while ago
    listed_in: list[threading.Thread] = []
    real = Path.iterdir

    def iterdir(self: Path) -> Iterator[Path]:
        listed_in.append(threading.current_thread())
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    suggest = PathSuggester().get_suggestion
    assert await suggest(f"{tmp_path}/a") == f"{tmp_path}/alpha.csv"
    assert await suggest(f"{tmp_path}/al") == f"{tmp_path}/alpha.csv"
    assert await suggest(f"{tmp_path}/b") == f"{tmp_path}/beta/"
    assert await suggest(f"{tmp_path}/") == f"{tmp_path}/alpha.csv"
    assert await suggest(f"{tmp_path}/z") is None
    assert len(listed_in) == 1 and listed_in[0] is not threading.main_thread()
    (tmp_path / "gamma").write_text("")  # the folder's mtime moves on
    assert await suggest(f"{tmp_path}/g") == f"{tmp_path}/gamma"
    assert await suggest(f"{tmp_path}/nope/x") is None


async def test_a_folder_changed_within_its_mtime_tick_is_listed_again(tmp_path: Path) -> None:
    (tmp_path / "alpha").write_text("")
    suggest = PathSuggester().get_suggestion
    assert await suggest(f"{tmp_path}/a") == f"{tmp_path}/alpha"  # listed just after a change
    tick = tmp_path.stat().st_mtime_ns
    (tmp_path / "beta").write_text("")
    os.utime(tmp_path, ns=(tick, tick))  # as coarse timestamps may leave it
    assert await suggest(f"{tmp_path}/b") == f"{tmp_path}/beta"
