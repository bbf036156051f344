"""The private Textual and Rich parts the console leans on are those it was
written against: an upgrade of either is a deliberate act (see
l4lb_tui/textual_compat.py), never a surprise in the field."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import pytest
from textual.app import App

from l4lb_tui import textual_compat as compat


def test_textual_and_rich_are_the_versions_recorded() -> None:
    installed = {p: importlib.metadata.version(p) for p in ("textual", "rich")}
    assert installed == {"textual": compat.TEXTUAL_VERSION, "rich": compat.RICH_VERSION}, (
        "Textual or Rich changed: re-read every function in textual_compat.UPSTREAM against "
        "its use, then record the new versions and hashes (python -m l4lb_tui.textual_compat)"
    )


@pytest.mark.parametrize("name", sorted(compat.UPSTREAM))
def test_each_upstream_function_is_the_one_recorded(name: str) -> None:
    assert compat.source_hash(name) == compat.UPSTREAM[name], (
        f"{name} changed upstream: re-read it against its use (textual_compat.UPSTREAM says "
        "where), adapt, then record its new hash (python -m l4lb_tui.textual_compat)"
    )


def _escape_delay(env: dict[str, str], first: str = "") -> str:
    code = (
        f"{first}import l4lb_tui.app; from textual import constants; print(constants.ESCAPE_DELAY)"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_the_escape_wait_is_set_through_the_environment() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ESCDELAY"}
    assert _escape_delay(env) == "0.05"
    # `l4lb tui` imports the app only when it runs: the CLI itself loads no Textual.
    assert (
        _escape_delay(env, "import sys, l4lb_tui.cli; assert 'textual' not in sys.modules; ")
        == "0.05"
    )
    assert _escape_delay({**env, "ESCDELAY": "200"}) == "0.2"  # the operator's wins


async def test_notifications_are_what_the_app_shows() -> None:
    app: App[None] = App()
    async with app.run_test() as pilot:
        app.notify("one")
        app.notify("two", severity="warning")
        await pilot.pause()
        assert [(n.message, n.severity) for n in compat.notifications(app)] == [
            ("one", "information"),
            ("two", "warning"),
        ]
