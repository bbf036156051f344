"""`l4lb export` to an output that cannot take it: one line, exit 2 (a file
it cannot write) or 3 (standard output lost)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.killed_reload import ROOT


@pytest.mark.parametrize("where", ["-o /nonexistent/dir/x.toml", "-o /tmp", "-o /dev/full", ">"])
def test_export_that_cannot_be_written_is_one_line(where: str) -> None:
    argv = [sys.executable, "-m", "l4lb_tui.cli", "export"]
    if where == ">":
        with Path("/dev/full").open("w") as full:
            res = subprocess.run(  # noqa: S603
                argv, cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True, check=False
            )
    else:
        res = subprocess.run(  # noqa: S603
            argv + where.split(), cwd=ROOT, capture_output=True, text=True, check=False
        )
    assert res.returncode == (3 if where == ">" else 2), res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("l4lb: error: ") and "Traceback" not in res.stderr
