"""Lines written to $L4LB_CONSOLE_NOTES show as notifications (how `l4lb
demo --nodes` says a node was killed while the console owns the terminal)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_support import make_app

from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.console_notes import add_note
from l4lb_tui.textual_compat import notifications


async def test_a_note_shows_once(
    fake: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = tmp_path / "notes"
    add_note(notes, "written before the console started")
    monkeypatch.setenv("L4LB_CONSOLE_NOTES", str(notes))
    app = make_app(fake)
    async with app.run_test() as pilot:
        add_note(notes, "demo: killed node n3;\nafter 400 ms")
        for _ in range(100):
            await pilot.pause(0.05)
            said = [n.message for n in notifications(app)]
            if "demo: killed node n3; after 400 ms" in said:
                break
        await pilot.pause(1.2)
        said = [n.message for n in notifications(app)]
        assert said.count("demo: killed node n3; after 400 ms") == 1, said
        assert "written before the console started" in said
