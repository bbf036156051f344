"""A console that reaches another namespace over netlink is not ended by the
SIGTERM pyroute2 sends its own forked helper (the child shares the event
loop's wake-up socket, so the parent saw that SIGTERM as its own: `S`, which
reads every balancer, closed the console).  Run as root."""

from __future__ import annotations

import secrets
import subprocess
import threading

import pytest
from tui_support import make_app, settle

from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.netlink import Netlink

pytestmark = pytest.mark.kernel


async def test_netlink_in_another_namespace_sends_the_console_no_signal() -> None:
    ns = f"tps{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)  # noqa: S603
    try:
        app = make_app(FakeBackend.demo())
        signals: list[int] = []
        app.signalled = signals.append  # type: ignore[method-assign]
        async with app.run_test() as pilot:
            await settle(pilot)

            def read() -> None:
                for _ in range(10):
                    Netlink(ns).links()

            worker = threading.Thread(target=read)
            worker.start()
            while worker.is_alive():
                await pilot.pause(0.05)
            await pilot.pause(0.5)
            assert signals == []
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)  # noqa: S603
