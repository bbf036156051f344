"""Snapshots on frozen data at a fixed size: no clocks, no random, no absolute paths.

Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update` and look
at the report (or the SVGs) before committing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input
from tui_support import SIZE, make_app, polls, prefill, settle

from l4lb_tui.console_demo import FakeBackend

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def _relative_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    # Paths on screen are relative to tests/tui, so a checkout anywhere matches.
    monkeypatch.chdir(HERE)


def test_interfaces_screen(snap_compare: object, fake: FakeBackend) -> None:
    app = make_app(fake, None, Path("data"))
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)  # type: ignore[operator]


def test_dashboard_with_sparklines_and_chart(snap_compare: object, fake: FakeBackend) -> None:
    async def run_before(pilot: Pilot[object]) -> None:
        await prefill(pilot, 61)  # a full minute of history
        await pilot.press("j", "j")

    app = make_app(fake, "lb0", Path("data"))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)  # type: ignore[operator]


def test_backend_editor(snap_compare: object, fake: FakeBackend) -> None:
    async def run_before(pilot: Pilot[object]) -> None:
        await polls(pilot, 3)
        await pilot.press("a", "tab", *"10.0.1.200", "tab")
        await settle(pilot)
        await pilot.press("tab", "backspace", *"70000")

    app = make_app(fake, "lb0", Path("data"))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)  # type: ignore[operator]


def test_csv_preview_with_errors(snap_compare: object, fake: FakeBackend) -> None:
    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("l")
        box = pilot.app.screen.query_one("#path", Input)
        box.value = "data/bad_destinations.csv"  # typing it costs ~60 ms a key
        await pilot.press("enter")
        await settle(pilot)

    app = make_app(fake, "lb0", Path("data"))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)  # type: ignore[operator]


def test_help_screen(snap_compare: object, fake: FakeBackend) -> None:
    async def run_before(pilot: Pilot[object]) -> None:
        await polls(pilot, 2)
        await pilot.press("question_mark")

    app = make_app(fake, "lb0", Path("data"))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)  # type: ignore[operator]


def test_dashboard_one_service_with_a_drained_backend(snap_compare: object) -> None:
    async def run_before(pilot: Pilot[object]) -> None:
        await polls(pilot, 2)
        await pilot.press("v", "v", "j", "x")  # the second service; drain 10.0.1.2
        await settle(pilot)

    app = make_app(FakeBackend.demo(dns=True), "lb0", Path("data"))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)  # type: ignore[operator]


# Issue 14: the same dashboard at the sizes operators use.
@pytest.mark.parametrize(
    "size", [(80, 24), (100, 30), (200, 50)], ids=["80x24", "100x30", "200x50"]
)
def test_dashboard_at_terminal_size(snap_compare: object, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[object]) -> None:
        await prefill(pilot, 61)
        await pilot.press("j", "j")

    app = make_app(FakeBackend.demo(dns=True), "lb0", Path("data"))
    assert snap_compare(app, terminal_size=size, run_before=run_before)  # type: ignore[operator]


def test_interfaces_at_80x24(snap_compare: object, fake: FakeBackend) -> None:
    app = make_app(fake, None, Path("data"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)  # type: ignore[operator]


def test_editor_at_80x24(snap_compare: object, fake: FakeBackend) -> None:
    async def run_before(pilot: Pilot[object]) -> None:
        await polls(pilot, 2)
        await pilot.press("e")
        await settle(pilot)

    app = make_app(fake, "lb0", Path("data"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)  # type: ignore[operator]


def test_load_at_80x24(snap_compare: object, fake: FakeBackend) -> None:
    """The load dialog at 80 columns: labels, buttons and all four preview
    columns, the file tree one ctrl+t away."""

    async def run_before(pilot: Pilot[object]) -> None:
        await polls(pilot, 2)
        await pilot.press("l")
        box = pilot.app.screen.query_one("#path", Input)
        box.value = "data/32_destinations.csv"
        await pilot.press("enter")
        await settle(pilot)

    app = make_app(fake, "lb0", Path("data"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)  # type: ignore[operator]
