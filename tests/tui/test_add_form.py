"""The add form: typing never silently replaces the service, and a service
that does not exist yet (the catch-all included) is made only when asked
(issue 14's focus race)."""

from __future__ import annotations

from textual.widgets import Checkbox, Input
from tui_support import SIZE, make_app, settle

from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.textual_compat import notifications


async def test_typing_in_the_service_field_never_replaces_it(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")  # the Tab that was meant here got lost
        await pilot.press(*"10.0.0.11")
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        service = editor.query_one("#service", Input)
        assert service.value == "10.0.0.4:8080/tcp10.0.0.11"  # beside it, and invalid
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen) and fake.writes == []


async def fill(pilot: object, editor: EditorScreen, spec: str) -> None:
    editor.query_one("#service", Input).value = spec
    editor.query_one("#ip", Input).value = "10.0.1.77"
    editor.query_one("#mac", Input).value = "02:00:00:00:01:77"
    await pilot.pause()  # type: ignore[attr-defined]


async def test_a_new_service_or_the_catch_all_is_an_explicit_choice(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for spec, named in (("10.0.0.9:80/tcp", "10.0.0.9:80/tcp"), ("", "*")):
            await pilot.press("a")
            await settle(pilot)
            editor = app.screen
            assert isinstance(editor, EditorScreen)
            await fill(pilot, editor, spec)
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, EditorScreen) and fake.writes == [], spec
            said = notifications(app)[-1].message
            assert "is not a service here" in said and "tick" in said, said
            assert named in said or spec == "", said
            await pilot.press("escape")
            await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        await fill(pilot, editor, "10.0.0.9:80/tcp")
        editor.query_one("#new-service", Checkbox).value = True
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, EditorScreen)
        state = fake.state("lb0")
        assert state is not None
        assert "10.0.0.9:80/tcp" in {str(s.key) for s in state.services}
