"""The console's forms judge input as the CLI does: the same validation
layer, the same words, and nothing applied while anything is refused."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from textual.widgets import Button, Input, Static
from tui_support import SIZE, make_app, settle

from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.screens.load import LoadScreen, PreviewTable


def text(screen: object, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())  # type: ignore[attr-defined]


@contextlib.contextmanager
def unblocked(fifo: Path, after: float) -> Iterator[None]:
    """Whoever still waits in open() on the FIFO after `after` seconds gets
    in (and reads nothing), so that a regression fails the test instead of
    hanging the suite."""

    def release() -> None:
        with contextlib.suppress(OSError):  # ENXIO: no reader waits, as it should be
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    timer = threading.Timer(after, release)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        release()


async def test_a_named_pipe_is_refused_at_once_and_q_quits(
    fake: FakeBackend, tmp_path: Path
) -> None:
    """The preview opened the FIFO before checking it: its worker waited for
    a writer, and the console would not quit until a second Ctrl-C."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    app = make_app(fake)
    with unblocked(fifo, after=5):
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("l")
            screen = app.screen
            assert isinstance(screen, LoadScreen)
            box = screen.query_one("#path", Input)
            box.value = str(fifo)
            box.focus()
            started = time.monotonic()
            await pilot.press("enter")
            await settle(pilot)
            assert time.monotonic() - started < 2, "the preview waited on the pipe"
            assert "not a regular file (a named pipe)" in text(screen, "#summary")
            assert screen.query_one("#apply", Button).disabled
            await pilot.press("escape", "q")
            await pilot.pause()
        assert app.return_code == 0 and fake.writes == []


async def test_the_vip_is_not_a_backend_in_the_editor(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        assert editor.query_one("#service", Input).value == "10.0.0.4:8080/tcp"
        await pilot.press("tab", *"10.0.0.4")
        assert "10.0.0.4 is the VIP of this service" in text(editor, "#ip-error")
        editor.query_one("#mac", Input).value = "02:00:00:00:00:04"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen) and fake.writes == []
        # Another service's VIP is no VIP of this one; but 10.0.0.4 is lb0's
        # own address too, which the balancer refuses as a backend (t20 LOW-3).
        editor.query_one("#service", Input).value = "10.0.0.5:8080/tcp"
        await pilot.pause()
        assert text(editor, "#ip-error") == (
            "10.0.0.4 is an address of lb0, the balancer's own: it cannot be a backend"
        )


async def test_editor_numbers_and_addresses_are_ascii_and_unicast(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        editor = app.screen
        cases = [
            ("#weight", "\uff13", "#weight-error", "weight '\uff13' is not a whole number"),
            ("#weight", "\xb3", "#weight-error", "weight '\xb3' is not a whole number"),
            ("#ip", "127.0.0.1", "#ip-error", "loopback address, which cannot be a backend"),
            ("#ip", "240.0.0.1", "#ip-error", "(class E)"),
        ]
        for field, value, error, message in cases:
            editor.query_one(field, Input).value = value
            await pilot.pause()
            assert message in text(editor, error), (value, text(editor, error))
            assert "invalid literal" not in text(editor, error)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen) and fake.writes == []


def many(tmp_path: Path, count: int) -> Path:
    path = tmp_path / f"{count}.csv"
    path.write_text(
        "".join(
            f"10.1.{i >> 8 & 255}.{i & 255}, 02:00:00:01:{i >> 8 & 255:02x}:{i & 255:02x}\n"
            for i in range(1, count + 1)
        )
    )
    return path


async def preview(pilot: object, path: Path, services: str) -> LoadScreen:
    await pilot.press("l")  # type: ignore[attr-defined]
    screen = pilot.app.screen  # type: ignore[attr-defined]
    assert isinstance(screen, LoadScreen)
    screen.query_one("#services", Input).value = services
    box = screen.query_one("#path", Input)
    box.value = str(path)
    box.focus()
    await pilot.press("enter")  # type: ignore[attr-defined]
    await settle(pilot)  # type: ignore[arg-type]
    return screen


async def test_load_counts_every_service(fake: FakeBackend, tmp_path: Path) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await preview(pilot, many(tmp_path, 2100), "10.0.0.4:80")
        summary = text(screen, "#summary")  # never "no errors" beside a refusal (t20)
        assert "2,100 destinations in 2 services need 4,200 backend slots" in summary
        assert "no errors" not in summary
        assert screen.query_one("#apply", Button).disabled
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, LoadScreen) and fake.writes == []
        screen.query_one("#services", Input).value = "10.0.0.4:80/tcp"
        await pilot.pause()
        assert not screen.query_one("#apply", Button).disabled


async def test_load_refuses_the_vip_as_a_backend(fake: FakeBackend, tmp_path: Path) -> None:
    path = tmp_path / "vip.csv"
    path.write_text("10.0.1.1, 02:00:00:00:01:01\n10.0.0.4, 02:00:00:00:00:04\n")
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await preview(pilot, path, "10.0.0.4:8080/tcp")
        assert "1 error:" in text(screen, "#summary")
        table = screen.query_one(PreviewTable)
        assert [str(c).strip() for c in table.get_row_at(0)] == [
            "2",
            "10.0.0.4 is a VIP of this load: a backend cannot be the VIP itself",
        ]
        assert screen.query_one("#apply", Button).disabled
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert fake.writes == []


async def test_overlapping_services_are_named_once(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        screen = app.screen
        screen.query_one("#services", Input).value = "10.0.0.4:53, 10.0.0.4:53/udp"
        await pilot.pause()
        assert "10.0.0.4:53/udp names 10.0.0.4:53/udp again" in text(screen, "#services-note")
        screen.query_one("#services", Input).value = "10.0.0.4:"
        await pilot.pause()
        assert "the port is empty" in text(screen, "#services-note")
