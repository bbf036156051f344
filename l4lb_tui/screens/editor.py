"""Add or edit one backend, validated as you type.

The MAC the kernel's neighbour table holds for the typed IP is offered as a
suggestion (→ or ctrl+n accepts it).  The lookup goes through the façade in
a thread, so a slow netlink answer never stalls typing.

The form keeps the services' lists it was filled from (`lists`), and the
dashboard hands it each new poll's: when another writer changes the backend
being edited, the fields the operator has not touched show the new values
and a note says what changed.  The edit is made against the lists the form
last showed, so the balancer refuses it if they have moved on since.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.suggester import SuggestionReady
from textual.widgets import Button, Checkbox, Input, Label, Static

from l4lb_tui.abi import ServiceKey
from l4lb_tui.backend_edits import Members
from l4lb_tui.console_backend import ConsoleError
from l4lb_tui.destinations import Destination, validate_ip, validate_mac, validate_weight
from l4lb_tui.services import parse_service_specs
from l4lb_tui.viewmodels.editor_form import (
    DRAINED_NOTE,
    NEW_SERVICE,
    EditorRequest,
    EditorResult,
    ip_placeholder,
    service_spec_note,
)
from l4lb_tui.viewmodels.edits import moved
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.inputs import (
    IpValidator,
    NeighbourSuggester,
    mac_validator,
    services_validator,
    weight_validator,
)


class EditorScreen(ModalScreen[EditorResult | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "submit", "Apply", tooltip="apply (Enter in any field does too)"),
        Binding("ctrl+n", "use_neighbour", "Use neighbour MAC"),
        # Handled at once, not after bubbling up: the IP typed next follows it.
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
    ]

    DEFAULT_CSS = """
    EditorScreen { align: center middle; }
    EditorScreen > Vertical {
        width: 84; max-width: 100%; height: auto; max-height: 100%; overflow-y: auto;
        padding: 1 2;
        border: thick $primary; background: $surface; border-title-style: bold;
    }
    EditorScreen Label { margin-top: 1; }
    EditorScreen .hint { color: $text-muted; height: auto; }
    EditorScreen .error { color: $error; height: auto; }
    EditorScreen .warning { color: $warning; height: auto; }
    EditorScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    EditorScreen Button { margin-left: 2; }
    EditorScreen #changed-note { display: none; }
    EditorScreen #changed-note.-shown { display: block; }
    EditorScreen #refusal { margin-top: 1; }
    """

    # The services' lists as last polled; set by the dashboard.
    lists: reactive[Mapping[ServiceKey, Members]] = reactive(dict, init=False)

    @dataclass
    class NeighbourFound(Message):
        ip: str
        mac: str | None
        error: str = ""
        asked: bool = False  # the network was asked (ctrl+n), not only the table

    def __init__(self, request: EditorRequest, lookup: Callable[[str, bool], str | None]) -> None:
        super().__init__()
        self.request = request
        self.lookup = lookup
        self.drained = request.drained
        self.set_reactive(EditorScreen.lists, request.lists)
        self.suggester = NeighbourSuggester()
        spec = request.fields[0]
        self.ip_validator = IpValidator(
            self._taken_for(spec), self._vips_for(spec), request.own.problem
        )

    def _keys(self, spec: str | None) -> list[ServiceKey]:
        if spec is None:
            return [self.request.fixed_service] if self.request.fixed_service else []
        try:
            return parse_service_specs(spec)
        except ValueError:
            return []

    def _taken_for(self, spec: str | None) -> set[str]:
        """Backends of the services named: an IP among them is a duplicate
        (the edited backend's own IP aside)."""
        taken = {d.ip for key in self._keys(spec) for d in self.lists.get(key, ())}
        return taken - {self.request.ip}

    def _vips_for(self, spec: str | None) -> set[str]:
        return {key.vip for key in self._keys(spec)}

    def compose(self) -> ComposeResult:
        req = self.request
        spec, ip, mac, weight = req.fields
        # The title on the border: in sight however far a short terminal scrolls.
        with Vertical() as box:
            box.border_title = req.title
            if req.refusal:  # reopened as it was left: what the balancer said
                yield Static(Text(f"refused: {req.refusal}"), classes="error", id="refusal")
            if spec is not None:
                yield Label("Service (VIP[:PORT][/tcp|udp], several with commas)", markup=False)
                # Typing into it never replaces the service silently: a key
                # that beats a fast Tab lands beside it, where it shows.
                yield Input(
                    spec,
                    validators=[services_validator()],
                    id="service",
                    select_on_focus=False,
                )
                yield Static(classes="warning", id="service-note")
            yield Label("IP address", markup=False)
            yield Input(
                ip,
                placeholder=ip_placeholder(self._keys(spec)),
                validators=[self.ip_validator],
                id="ip",
            )
            yield Static(classes="error", id="ip-error")
            yield Label("MAC address", markup=False)
            yield Input(
                mac,
                placeholder="aa:bb:cc:dd:ee:ff",
                validators=[mac_validator()],
                suggester=self.suggester,
                id="mac",
            )
            yield Static(classes="hint", id="mac-hint")
            yield Label("Weight (0 drains the backend: no new flows)", markup=False)
            yield Input(weight, validators=[weight_validator()], id="weight")
            yield Static(classes="error", id="weight-error")
            if spec is not None:  # last but the buttons: Tab goes to the IP first
                yield Checkbox(
                    NEW_SERVICE, bool(req.typed and req.typed.new_service), id="new-service"
                )
            if req.drained:
                yield Static(Text(DRAINED_NOTE), classes="warning", id="drained-note")
            yield Static(classes="warning", id="changed-note")
            with Horizontal():
                yield Button("Apply (ctrl+s)", variant="primary", id="apply")
                yield Button("Cancel (Esc)", id="cancel")
        yield KeyFooter()

    def on_mount(self) -> None:
        first = "#service" if self.request.service_spec is not None else "#ip"
        # Now: focus() would wait behind the keys already typed.
        self.set_focus(self.query_one(first, Input))
        spec, ip, _, _ = self.request.fields
        if spec is not None:
            self._service_note(spec)
        box = self.query_one("#ip", Input)
        if ip and self.request.typed is not None:  # reopened: the refused IP's hint again
            self._show_error("#ip-error", box.validate(ip))
        if ip and not self._refused(box, ip):
            self._look_up(ip)

    # -- live validation ----------------------------------------------------------

    def _service_note(self, spec: str) -> None:
        self.query_one("#service-note", Static).update(service_spec_note(spec, ""))

    @on(Input.Changed, "#service")
    def _service_changed(self, event: Input.Changed) -> None:
        self._service_note(event.value)
        self.ip_validator.taken = self._taken_for(event.value)
        self.ip_validator.vips = self._vips_for(event.value)
        ip = self.query_one("#ip", Input)
        ip.placeholder = ip_placeholder(self._keys(event.value))
        if ip.value:
            self._show_error("#ip-error", ip.validate(ip.value))

    @on(Input.Changed, "#ip")
    def _ip_changed(self, event: Input.Changed) -> None:
        self._show_error("#ip-error", event.validation_result)
        self.suggester.mac = None
        self.query_one("#mac-hint", Static).update("")
        try:
            ip = validate_ip(event.value)
        except ValueError:
            return
        if not self._refused(event.input, ip):  # no neighbour hint for an IP refused anyway
            self._look_up(ip)

    @staticmethod
    def _refused(box: Input, ip: str) -> bool:
        outcome = box.validate(ip)
        return outcome is not None and not outcome.is_valid

    @on(Input.Changed, "#mac")
    def _mac_changed(self, event: Input.Changed) -> None:
        if event.value and event.validation_result and not event.validation_result.is_valid:
            self.query_one("#mac-hint", Static).update(
                Text(event.validation_result.failure_descriptions[0], style="red")
            )
        elif self.suggester.mac:
            self._offer(self.suggester.mac)
        else:
            self.query_one("#mac-hint", Static).update("")

    @on(Input.Changed, "#weight")
    def _weight_changed(self, event: Input.Changed) -> None:
        self._show_error("#weight-error", event.validation_result)

    def watch_lists(
        self, old: Mapping[ServiceKey, Members], new: Mapping[ServiceKey, Members]
    ) -> None:
        editable = self.request.service_spec is not None
        self.ip_validator.taken = self._taken_for(
            self.query_one("#service", Input).value if editable else None
        )
        ip = self.query_one("#ip", Input)
        if ip.value:
            self._show_error("#ip-error", ip.validate(ip.value))
        key = self.request.fixed_service
        if key is not None and not editable:
            self._follow(key, old.get(key, ()), new.get(key, ()))

    def _follow(self, key: ServiceKey, old: Members, new: Members) -> None:
        """Another writer changed the backend being edited: show what it holds now."""
        change = moved(self.request.ip, old, new)
        if change is None:
            return
        boxes = {"MAC": self.query_one("#mac", Input), "weight": self.query_one("#weight", Input)}
        for name, was, now in change.fields:
            box = boxes.get(name)
            if box is not None and box.value.strip().lower() == was:
                box.value = now  # untouched: the operator's own typing stays
        if change.now is not None:
            self.drained = change.now.drained
        note = self.query_one("#changed-note", Static)
        note.update(Text(change.note(self.request.ip, key)))
        note.add_class("-shown")

    def _show_error(self, where: str, result: object) -> None:
        descriptions = getattr(result, "failure_descriptions", [])
        self.query_one(where, Static).update(Text(descriptions[0] if descriptions else ""))

    # -- neighbour table ------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="neighbour")
    def _look_up(self, ip: str, ask: bool = False) -> None:
        try:
            self.post_message(self.NeighbourFound(ip, self.lookup(ip, ask), asked=ask))
        except ConsoleError as exc:
            self.post_message(self.NeighbourFound(ip, None, str(exc)))

    @on(NeighbourFound)
    def _found(self, message: NeighbourFound) -> None:
        if message.ip != self.query_one("#ip", Input).value.strip():
            return  # the operator has typed on since
        hint = self.query_one("#mac-hint", Static)
        if message.error:
            hint.update(Text(f"neighbour table unreadable: {message.error}"))
            return
        self.suggester.mac = message.mac
        mac = self.query_one("#mac", Input)
        outcome = mac.validate(mac.value) if mac.value else None
        if outcome is not None and not outcome.is_valid:
            return  # the MAC typed is wrong: that hint stays until it is fixed
        if message.mac is None and message.asked:
            hint.update(Text(f"{message.ip} did not answer when asked: type its MAC"))
        elif message.mac is None:
            hint.update(
                Text(f"{message.ip} is not in the neighbour table: ctrl+n asks, or type its MAC")
            )
        else:
            self._offer(message.mac)
            self._suggest_now()

    @on(events.DescendantFocus)
    def _focus_moved(self) -> None:
        self._suggest_now()

    def _suggest_now(self) -> None:
        # An empty Input only asks its suggester after a keystroke, and drops
        # the suggestion when focused: offer the MAC as soon as it has focus.
        mac = self.query_one("#mac", Input)
        if mac.has_focus and not mac.value and self.suggester.mac:
            mac.post_message(SuggestionReady(mac.value, self.suggester.mac))

    def _offer(self, mac: str) -> None:
        current = self.query_one("#mac", Input).value.strip().lower()
        if current == mac:
            text = f"matches the neighbour table ({mac})"
        else:
            text = f"neighbour table: {mac} — press → or ctrl+n to use it"
        self.query_one("#mac-hint", Static).update(Text(text))

    def action_use_neighbour(self) -> None:
        if self.suggester.mac:
            mac = self.query_one("#mac", Input)
            mac.value = self.suggester.mac
            mac.cursor_position = len(mac.value)
            return
        box = self.query_one("#ip", Input)
        checked = box.validate(box.value) if box.value.strip() else None
        if checked is not None and checked.is_valid:
            # Nothing in the table (yet): ask the network, as `backend add` does.
            ask = "neighbour discovery" if ":" in box.value else "ARP"
            self.query_one("#mac-hint", Static).update(Text(f"asking by {ask}…"))
            self._look_up(box.value.strip(), ask=True)

    # -- submit -----------------------------------------------------------------------

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def action_submit(self) -> None:
        result = self._result()
        if result is not None:
            self.dismiss(result)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def _new_services_chosen(self, keys: list[ServiceKey]) -> bool:
        """A service that does not exist yet (blank: the catch-all) is made
        only when the operator ticked the box; otherwise say so, and point there."""
        new = [str(k) for k in keys if k not in self.lists]
        if not new or self.query_one("#new-service", Checkbox).value:
            return True
        self.query_one("#service", Input).focus()
        self.notify(
            f"{', '.join(new)} is not a service here: tick '{NEW_SERVICE}' to create it",
            severity="error",
            markup=False,
        )
        return False

    def _result(self) -> EditorResult | None:
        """The result, or None after pointing at the first invalid field."""
        inputs = [i for i in self.query(Input) if i.id in {"service", "ip", "mac", "weight"}]
        for box in inputs:
            outcome = box.validate(box.value)
            if outcome is not None and not outcome.is_valid:
                box.focus()
                self.notify(outcome.failure_descriptions[0], severity="error", markup=False)
                return None
        # What the field says now: the service typed, not the one it opened with.
        editable = self.request.service_spec is not None
        spec = self.query_one("#service", Input).value if editable else None
        keys = self._keys(spec)
        if not keys:
            self.notify("no service to put the backend in", severity="error", markup=False)
            return None
        if spec is not None and not self._new_services_chosen(keys):
            return None
        dest = Destination(
            validate_ip(self.query_one("#ip", Input).value),
            validate_mac(self.query_one("#mac", Input).value),
            validate_weight(self.query_one("#weight", Input).value),
            drained=self.drained,
        )
        ticked = spec is not None and self.query_one("#new-service", Checkbox).value
        return EditorResult(tuple(keys), dest, self.lists, spec, ticked)
