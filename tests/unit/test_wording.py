"""Counts and file kinds as the output says them: "1 change", not "1 changes";
a directory given for a file is "a directory", whatever file was wanted."""

from __future__ import annotations

from pathlib import Path

import pytest

from l4lb_tui.config_apply import _part_way
from l4lb_tui.config_file import ConfigError, read_config
from l4lb_tui.destinations import DestinationError, read_text
from l4lb_tui.wording import counted


def test_one_is_singular_and_the_rest_plural() -> None:
    assert counted(1, "change") == "1 change"
    assert [counted(n, "change") for n in (0, 2)] == ["0 changes", "2 changes"]
    assert counted(1024, "backend", grouped=True) == "1,024 backends"


def test_an_apply_stopped_part_way_counts_in_words() -> None:
    left = [(("service a",), None), (("service b",), None)]
    said = _part_way(OSError("x"), ["one"], left)  # type: ignore[arg-type]
    assert "the 1 change before it was made, the 1 after it was not" in said, said


def test_a_directory_given_as_a_config_is_said_to_be_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read_config(tmp_path)
    (line,) = caught.value.lines()
    assert line.endswith(f"{tmp_path}: is a directory"), line
    with pytest.raises(DestinationError, match=r"is a directory$"):
        read_text(tmp_path)
