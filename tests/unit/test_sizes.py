"""The house limit on module size (~400 lines), kept by a test rather than
by memory: a module that grows past it is split by what it holds."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 400


def test_no_module_over_the_limit() -> None:
    over = {
        str(p.relative_to(ROOT)): n
        for pkg in ("l4lb_tui", "l4lb_bench")
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > LIMIT
    }
    assert over == {}, f"over {LIMIT} lines: {over}"
