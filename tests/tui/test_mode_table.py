"""The mode menu of a link with no balancer says what the new flow table
takes before it is chosen (the CLI says it before allocating too)."""

from __future__ import annotations

import os
from pathlib import Path

from textual.widgets import Static
from tui_support import SIZE, make_app, settle

from l4lb_tui import health_status
from l4lb_tui.console_daemon import DaemonWatch
from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.health_status import DaemonStatus
from l4lb_tui.screens.mode import ModeScreen


async def test_the_mode_menu_says_the_new_tables_size_and_memory(fake: FakeBackend) -> None:
    app = make_app(fake, "lb1")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        assert isinstance(app.screen, ModeScreen)
        said = str(app.screen.query_one("#table-size", Static).render())
        assert "flow table: 524,288 flows (512k), 18 MiB of kernel memory" in said, said
        assert "(the default)" in said


async def test_a_loaded_balancer_shows_no_new_table(fake: FakeBackend) -> None:
    app = make_app(fake, "lb0")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        assert not app.screen.query("#table-size")


def test_the_daemons_config_gives_the_size_for_its_link(tmp_path: Path) -> None:
    conf = tmp_path / "y17-l4lb.toml"
    conf.write_text('[[balancer]]\ninterface = "lb1"\nflows = "8M"\n')
    status = tmp_path / "health.json"
    watch = DaemonWatch(status)
    assert watch.flows_for("lb1") is None  # no daemon
    health_status.write(DaemonStatus(1.0, os.getpid(), str(conf)), status)
    assert watch.flows_for("lb1") == (8 << 20, 1 << 16, str(conf))
    conf.write_text('[[balancer]]\ninterface = "lb1"\nflows6 = "4k"\n')
    assert watch.flows_for("lb1") == (1 << 19, 1 << 12, str(conf))
    assert watch.flows_for("lb0") is None  # its config does not name lb0
