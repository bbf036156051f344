"""An add or edit the balancer refuses brings the form back as it was left,
the refusal in it; the IP field warns of the balancer's own addresses as of
the VIP, without a neighbour hint; the IP's example follows the service's
family (t20 LOW-3)."""

from __future__ import annotations

from textual.widgets import Checkbox, Input, Static
from tui_support import SIZE, make_app, settle

from l4lb_tui import abi
from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.destinations import Destination
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.viewmodels.editor_form import OwnAddresses, ip_placeholder

REFUSAL = "10.0.1.77 is an address of lb0, the balancer's own: it cannot be a backend"
V6 = abi.ServiceKey("fd00::4", 8080, abi.PROTO_TCP)


def text(editor: EditorScreen, selector: str) -> str:
    return str(editor.query_one(selector, Static).render())


def test_own_addresses_say_what_the_balancer_says() -> None:
    own = OwnAddresses("lb0", ("10.0.0.4/24", "fd00::1/64"), [("10.0.0.1", "-s")])
    assert own.problem("fd00::1") == (
        "fd00::1 is an address of lb0, the balancer's own: it cannot be a backend"
    )
    assert "broadcast address of lb0's subnet" in str(own.problem("10.0.0.255"))
    assert own.problem("10.0.0.1") == (
        "10.0.0.1 is the balancer's outer source address (-s of attach): it cannot be a backend"
    )
    assert own.problem("10.0.0.11") is None
    assert ip_placeholder([V6]) == "fd00::11"
    assert ip_placeholder([abi.ServiceKey("10.0.0.4", 80, abi.PROTO_TCP)]) == "10.0.0.11"


async def test_a_refused_add_reopens_the_form_as_typed(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        editor.query_one("#service", Input).value = "10.0.0.9:80/tcp"
        editor.query_one("#ip", Input).value = "10.0.1.77"
        editor.query_one("#mac", Input).value = "02:00:00:00:01:77"
        editor.query_one("#weight", Input).value = "7"
        editor.query_one("#new-service", Checkbox).value = True
        await pilot.pause()
        fake.fail_next("edit", REFUSAL)
        await pilot.press("ctrl+s")
        await settle(pilot)
        again = app.screen
        assert isinstance(again, EditorScreen) and again is not editor
        values = [again.query_one(f"#{f}", Input).value for f in ("service", "ip", "mac", "weight")]
        assert values == ["10.0.0.9:80/tcp", "10.0.1.77", "02:00:00:00:01:77", "7"]
        assert again.query_one("#new-service", Checkbox).value
        assert REFUSAL in text(again, "#refusal")
        assert fake.writes == []
        await pilot.press("ctrl+s")  # nothing refuses it now: made, and the form gone
        await settle(pilot)
        assert not isinstance(app.screen, EditorScreen)
        assert fake.writes == ["edit lb0 10.0.0.9:80/tcp 1"]


async def test_a_refused_edit_reopens_the_editor_as_typed(fake: FakeBackend) -> None:
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        edited = editor.request.ip
        editor.query_one("#weight", Input).value = "9"
        await pilot.pause()
        fake.fail_next("edit", "Error: map update failed: Operation not permitted")
        await pilot.press("ctrl+s")
        await settle(pilot)
        again = app.screen
        assert isinstance(again, EditorScreen) and again.request.ip == edited
        assert again.query_one("#weight", Input).value == "9"
        assert "Operation not permitted" in text(again, "#refusal")


async def test_the_ip_field_warns_of_the_balancers_own_addresses(fake: FakeBackend) -> None:
    fake.source6 = "fd00::1"
    fake.load("lb0", [V6], [Destination("fd00::12", "02:00:00:00:00:12")])
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        service = editor.query_one("#service", Input)
        ip = editor.query_one("#ip", Input)
        assert ip.placeholder == "10.0.0.11"
        service.value = "[fd00::4]:8080/tcp"
        await pilot.pause()
        assert ip.placeholder == "fd00::11"  # an IPv6 example for an IPv6 service
        for typed, said in (
            ("fd00::1", "fd00::1 is the balancer's outer source address (--source6 of attach)"),
            ("10.0.0.1", "10.0.0.1 is the balancer's outer source address (-s of attach)"),
            ("10.0.0.4", "10.0.0.4 is an address of lb0, the balancer's own"),
        ):
            ip.value = typed
            await settle(pilot)
            assert said in text(editor, "#ip-error"), typed
            assert text(editor, "#mac-hint") == "", typed  # no neighbour hint: refused anyway
