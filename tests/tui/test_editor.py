"""Inline editing from the keyboard: add, edit, delete, undo, save."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static
from tui_support import SIZE, dashboard, make_app, settle

from l4lb_tui.console_demo import DEMO_SERVICE, FakeBackend
from l4lb_tui.destinations import parse_text
from l4lb_tui.screens.confirm import ConfirmScreen
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.screens.save import SaveScreen
from l4lb_tui.textual_compat import notifications


def backends(fake: FakeBackend) -> dict[str, tuple[int, str, int]]:
    state = fake.sample("lb0").state
    assert state is not None
    return {b.ip: (b.index, b.mac, b.weight) for s in state.services for b in s.backends}


def text(screen: object, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())  # type: ignore[attr-defined]


async def test_add_with_neighbour_mac_then_undo(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        assert editor.query_one("#service", Input).value == "10.0.0.4:8080/tcp"
        await pilot.press("tab", *"10.0.1.300")
        assert "not an IPv4 address" in text(editor, "#ip-error")
        await pilot.press("backspace", "backspace", "backspace", "2", "0", "0")
        await settle(pilot)
        assert text(editor, "#ip-error") == ""
        assert "00:15:4d:00:01:c8" in text(editor, "#mac-hint")  # from the neighbour table
        await pilot.press("tab", "right")  # → accepts the suggestion
        assert editor.query_one("#mac", Input).value == "00:15:4d:00:01:c8"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert backends(fake)["10.0.1.200"][1:] == ("00:15:4d:00:01:c8", 1)
        assert len(dashboard(pilot).undo_stack) == 1
        await pilot.press("u")
        await settle(pilot)
        assert "10.0.1.200" not in backends(fake) and len(backends(fake)) == 8
        assert dashboard(pilot).undo_stack == []


async def test_invalid_fields_block_apply(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", "tab", *"10.0.1.1")  # already a backend
        editor = app.screen
        assert "already a backend" in text(editor, "#ip-error")
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, EditorScreen)
        editor.query_one("#ip", Input).value = "10.0.9.9"
        mac = editor.query_one("#mac", Input)
        mac.value = "ff:ff:ff:ff:ff:ff"
        mac.focus()
        await pilot.pause()
        assert "broadcast" in text(editor, "#mac-hint")
        await pilot.press("enter")
        assert isinstance(app.screen, EditorScreen) and fake.writes == []
        await pilot.press("escape")
        await settle(pilot)
        assert fake.writes == []


async def test_edit_weight_keeps_every_slot(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = backends(fake)
        await pilot.press("j", "j")
        picked = dashboard(pilot)._selected()
        assert picked is not None
        await pilot.press("e")
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        assert editor.query_one("#ip", Input).value == picked[1].ip
        weight = editor.query_one("#weight", Input)
        weight.value = ""
        weight.focus()
        await pilot.press("5", "enter")
        await settle(pilot)
        after = backends(fake)
        ip = picked[1].ip
        assert after[ip] == (before[ip][0], before[ip][1], 5)
        assert {ip: v[0] for ip, v in after.items()} == {ip: v[0] for ip, v in before.items()}
        await pilot.press("e")  # the same backend: the highlight follows it
        editor = app.screen
        assert editor.query_one("#ip", Input).value == ip
        editor.query_one("#ip", Input).value = "10.0.2.3"  # a new address: a new slot
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert ip not in backends(fake) and "10.0.2.3" in backends(fake)


async def test_delete_asks_then_undo_brings_it_back(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert len(backends(fake)) == 8
        await pilot.press("d", "y")
        await settle(pilot)
        assert "10.0.1.1" not in backends(fake)
        table = dashboard(pilot).query_one("BackendTable")
        assert table.row_count == 7  # type: ignore[attr-defined]
        await pilot.press("u")
        await settle(pilot)
        assert "10.0.1.1" in backends(fake)
        await pilot.press("u")  # nothing left to undo: a warning, no write
        await settle(pilot)
        assert len(fake.writes) == 2


async def test_write_refused_shows_error_and_keeps_state(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        fake.fail_next("edit", "Error: map update failed: Operation not permitted")
        await pilot.press("d", "y")
        await settle(pilot)
        assert len(backends(fake)) == 8
        assert dashboard(pilot).undo_stack == []
        assert any("Operation not permitted" in n.message for n in notifications(app))


async def test_save_writes_a_heading_and_keeps_drained_weights(
    fake: FakeBackend, tmp_path: Path
) -> None:
    app = make_app(fake, start_dir=tmp_path)
    name = "lb0-10.0.0.4-8080-tcp.csv"  # named for the interface and the service
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        save = app.screen
        assert isinstance(save, SaveScreen)
        assert save.query_one(Input).value == str(tmp_path / name)
        await pilot.press("enter")
        await settle(pilot)
        written = (tmp_path / name).read_text()
        lines = written.splitlines()
        assert lines[0].startswith(
            "# l4lb: the backends of service 10.0.0.4:8080/tcp on lb0, saved "
        )
        assert lines[0].endswith(" UTC")
        assert lines[1:3] == ["10.0.1.1, 00:15:4d:00:01:01, 1", "10.0.1.2, 00:15:4d:00:01:02, 2"]
        assert "10.0.1.4, 00:15:4d:00:01:04, 2, drained" in lines  # its weight kept
        parsed = parse_text(written)  # what `l (load)` and `l4lb map` read back
        assert not parsed.errors and len(parsed.destinations) == 8
        drained = {d.ip: (d.weight, d.drained) for d in parsed.destinations}["10.0.1.4"]
        assert drained == (2, True)
        assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp left
        state = fake.sample("lb0").state
        assert state is not None and state.services[0].key == DEMO_SERVICE


async def test_save_never_offers_the_loaded_file(fake: FakeBackend, tmp_path: Path) -> None:
    loaded = tmp_path / "lb0-10.0.0.4-8080-tcp.csv"
    loaded.write_text("10.0.1.1, 00:15:4d:00:01:01\n")
    app = make_app(fake, start_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        dashboard(pilot).loaded_from = dashboard(pilot).csv_path = loaded
        await pilot.press("s")
        save = app.screen
        assert isinstance(save, SaveScreen)
        assert save.query_one(Input).value == str(tmp_path / "lb0-10.0.0.4-8080-tcp-saved.csv")


async def test_second_change_is_planned_on_the_kernels_lists(fake: FakeBackend) -> None:
    """A change made before the next poll arrives must not undo the one before it."""
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = dashboard(pilot)
        stale = screen.state
        await pilot.press("a", "tab", *"10.0.1.200", "tab", "right", "ctrl+s")
        await settle(pilot)
        assert "10.0.1.200" in backends(fake)
        for _ in range(3):  # off the new backend (where the sort put it)
            picked = screen._selected()
            if picked is not None and picked[1].ip != "10.0.1.200":
                break
            await pilot.press("j")
        screen.state = stale  # as if the poll after the add had not come back yet
        picked = screen._selected()
        assert picked is not None and picked[1].ip != "10.0.1.200"
        await pilot.press("d", "y")
        await settle(pilot)
        now = backends(fake)
        assert "10.0.1.200" in now and picked[1].ip not in now


async def test_edit_of_a_backend_removed_meanwhile_is_refused(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")  # the editor opens on 10.0.1.1 ...
        fake.load("lb0", [DEMO_SERVICE], [])  # ... which someone else removes
        await pilot.press("ctrl+s")
        await settle(pilot)
        [told] = [n.message for n in notifications(app)]
        assert told == (
            f"edit 10.0.1.1 of {DEMO_SERVICE} refused: 10.0.1.1 of {DEMO_SERVICE} changed "
            "since you opened this (another writer): refreshed, check and apply again"
        )
        assert backends(fake) == {}


async def test_ctrl_n_asks_again_when_the_table_had_nothing(fake: FakeBackend) -> None:
    """t19 LOW-I: ctrl+n never looked again, nor asked the network."""
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", "tab", *"10.0.9.9")
        await settle(pilot)
        editor = app.screen
        assert "not in the neighbour table: ctrl+n asks" in text(editor, "#mac-hint")
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert "10.0.9.9 did not answer when asked: type its MAC" in text(editor, "#mac-hint")
        fake.neighbours["10.0.9.9"] = "02:00:00:09:09:09"  # it answers now
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert "02:00:00:09:09:09" in text(editor, "#mac-hint")
        await pilot.press("ctrl+n")
        assert editor.query_one("#mac", Input).value == "02:00:00:09:09:09"
