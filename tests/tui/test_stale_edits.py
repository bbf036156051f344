"""Another writer changes the lists the console shows: the console notices,
refreshes and says so, and never writes an edit made against stale lists.

The other writer here is the FakeBackend changed behind the console's back
(no poll in between unless the test asks); the same flows against the real
kernel and CLI are in tests/faults/test_console_races.py.
"""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import Input, Static
from tui_support import DATA, SIZE, dashboard, make_app, settle

from l4lb_tui.console_demo import DEMO_SERVICE, FakeBackend
from l4lb_tui.destinations import Destination
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.screens.load import LoadScreen
from l4lb_tui.textual_compat import notifications
from l4lb_tui.widgets.tables import BackendTable

FIRST = "10.0.1.1"  # the row the dashboard opens on (weight 1)
OTHER = Destination("10.0.1.99", "00:15:4d:00:01:63")


def kernel(fake: FakeBackend) -> dict[str, tuple[int, bool]]:
    state = fake.state("lb0")
    assert state is not None
    return {b.ip: (b.weight, b.draining) for s in state.services for b in s.backends}


def other_writer(fake: FakeBackend, ip: str | None = None, **changes: object) -> None:
    """Another console or the CLI: one backend changed, or OTHER added."""
    state = fake.state("lb0")
    assert state is not None
    [svc] = [s for s in state.services if s.key == DEMO_SERVICE]
    now = [Destination(b.ip, b.mac, b.weight, b.draining and b.weight != 0) for b in svc.backends]
    if ip is None:
        now.append(OTHER)
    else:
        now = [replace(d, **changes) if d.ip == ip else d for d in now]  # type: ignore[arg-type]
    fake.load("lb0", [DEMO_SERVICE], now)


def said(app: object, since: int = 0) -> list[str]:
    return [n.message for n in notifications(app)][since:]


def cell(app: object, slot: str) -> str:
    table = app.screen.query_one(BackendTable)  # type: ignore[attr-defined]
    value = table.get_cell(slot, "weight")
    return str(getattr(value, "plain", value)).strip()


async def test_drain_of_a_backend_changed_meanwhile_is_refused_and_refreshed(
    fake: FakeBackend,
) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        other_writer(fake, FIRST, weight=4)  # the dashboard still shows weight 1
        await pilot.press("x")
        await settle(pilot)
        assert kernel(fake)[FIRST] == (4, False), "a drain made against stale lists was written"
        [told] = said(app)
        assert f"{FIRST} of {DEMO_SERVICE} changed since you opened this (another writer)" in told
        assert "refreshed, check and apply again" in told
        assert cell(app, "0") == "4"  # the view was refreshed
        assert dashboard(pilot).undo_stack == []
        await pilot.press("x")  # now made against what is shown: applied
        await settle(pilot)
        assert kernel(fake)[FIRST] == (4, True)


async def test_the_open_editor_follows_another_writer(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        assert editor.query_one("#weight", Input).value == "1"
        other_writer(fake, FIRST, weight=4)
        dashboard(pilot).poll_now()
        await settle(pilot)
        assert editor.query_one("#weight", Input).value == "4", "the editor shows a stale weight"
        note = str(editor.query_one("#changed-note", Static).render())
        assert "another writer" in note and "weight 1 → 4" in note
        box = editor.query_one("#weight", Input)
        box.value = "6"
        box.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert kernel(fake)[FIRST] == (6, False)
        assert said(app) == [f"edit {FIRST} of {DEMO_SERVICE}: weight 4 → 6"]  # from 4, as shown


async def test_the_editor_keeps_what_the_operator_typed(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        box = editor.query_one("#weight", Input)
        box.value = "9"
        other_writer(fake, FIRST, weight=4)
        dashboard(pilot).poll_now()
        await settle(pilot)
        assert box.value == "9"
        note = str(editor.query_one("#changed-note", Static).render())
        assert "weight 1 → 4" in note
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert kernel(fake)[FIRST] == (9, False)


async def test_an_edit_applied_beside_another_writers_change_says_so(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        other_writer(fake)  # another backend added: the edited one is as shown
        box = app.screen.query_one("#weight", Input)
        box.value = "3"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert kernel(fake)[FIRST] == (3, False) and OTHER.ip in kernel(fake)
        [told] = said(app)
        assert told.startswith(f"edit {FIRST} of {DEMO_SERVICE}")
        assert "another writer" in told and "kept" in told


async def test_undo_of_a_backend_changed_since_is_refused(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        other_writer(fake, FIRST, weight=5)
        await pilot.press("u")
        await settle(pilot)
        assert kernel(fake)[FIRST] == (5, True), "undo put back what another writer changed"
        told = said(app)[-1]
        assert told.startswith(f"cannot undo drain {FIRST}") and "another writer" in told
        assert dashboard(pilot).undo_stack == []


async def test_undo_beside_another_writers_change_keeps_it(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        other_writer(fake)
        await pilot.press("u")
        await settle(pilot)
        assert kernel(fake)[FIRST] == (1, False) and OTHER.ip in kernel(fake)


async def test_load_into_a_service_changed_meanwhile_is_refused(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        screen = app.screen
        assert isinstance(screen, LoadScreen)
        box = screen.query_one("#path", Input)
        box.value = str(DATA / "32_destinations.csv")
        box.focus()
        await pilot.press("enter")
        await settle(pilot)
        other_writer(fake)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert OTHER.ip in kernel(fake) and len(kernel(fake)) == 9
        [told] = said(app)
        assert f"the backends of {DEMO_SERVICE} changed since you opened this" in told


async def test_a_stale_refusal_does_not_bring_the_form_back(fake: FakeBackend) -> None:
    """A refused form comes back as typed, but not when another writer
    changed the backend: the refreshed table says what it holds now."""
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        other_writer(fake, FIRST, weight=4)  # not polled: the form's basis is stale
        editor.query_one("#weight", Input).value = "9"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, EditorScreen), "the stale form came back"
        assert kernel(fake)[FIRST] == (4, False)
        assert "changed since you opened this" in said(app)[-1]
        assert cell(app, "0") == "4"
