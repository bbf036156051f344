"""`l4lb lab status` shows what `l4lb lab break` broke: each broken
backend with its faults and the command that mends it (text and JSON),
and nothing once it is fixed."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest
from lab_support import require_root

from l4lb_tui.lab import Lab, faults
from tests.killed_reload import ROOT

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def slab() -> Iterator[Lab]:
    require_root()
    built = Lab(prefix=f"f16{secrets.token_hex(1)}", backends=2)
    try:
        built.up()
        yield built
    finally:
        built.down()


def _status(lab: Lab, *more: str) -> str:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "lab", "status", "--prefix", lab.prefix, *more],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_status_shows_each_fault(slab: Lab) -> None:
    try:
        faults.break_backend(slab, 1, "server")
        faults.break_backend(slab, 2, "vip")
        faults.break_backend(slab, 2, "decap")
        lines = [x for x in _status(slab).splitlines() if x.startswith("broken: ")]
        assert lines == [
            f"broken: be1: server ('l4lb lab fix --prefix {slab.prefix} --backend 1' mends it)",
            f"broken: be2: vip, decap ('l4lb lab fix --prefix {slab.prefix} --backend 2' mends it)",
        ]
        said = json.loads(_status(slab, "--json"))["faults"]
        assert said == [
            {"index": 1, "name": "be1", "broken": ["server"]},
            {"index": 2, "name": "be2", "broken": ["vip", "decap"]},
        ]
    finally:
        faults.fix_backend(slab, 1)
        faults.fix_backend(slab, 2)
    assert "broken: " not in _status(slab)
    assert json.loads(_status(slab, "--json"))["faults"] == []
