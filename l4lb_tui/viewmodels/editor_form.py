"""The add and edit form's data, without Textual: what opens it (`EditorRequest`),
what it returns (`EditorResult`), and what a services field says under itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rich.text import Text

from l4lb_tui.abi import ServiceKey
from l4lb_tui.backend_edits import Members
from l4lb_tui.destinations import Destination
from l4lb_tui.model import Backend
from l4lb_tui.services import merge_service_specs, service_spec


@dataclass(frozen=True)
class EditorRequest:
    title: str
    service_spec: str | None  # editable spec (add); None: the service is fixed (edit)
    fixed_service: ServiceKey | None = None
    ip: str = ""
    mac: str = ""
    weight: int = 1
    drained: bool = False  # kept as it is: x on the dashboard drains and undrains
    # Each service's list as shown: a duplicate IP is refused while typing.
    lists: Mapping[ServiceKey, Members] = field(default_factory=dict)

    @classmethod
    def adding(
        cls, ifname: str, key: ServiceKey | None, lists: Mapping[ServiceKey, Members]
    ) -> EditorRequest:
        """A new backend, for service `key` (None: the operator names one)."""
        spec = service_spec(key) if key else ""
        return cls(f"Add a backend on {ifname}", spec, lists=lists)

    @classmethod
    def editing(
        cls, key: ServiceKey, backend: Backend, lists: Mapping[ServiceKey, Members]
    ) -> EditorRequest:
        """`backend` of service `key`, as shown."""
        return cls(
            title=f"Edit backend {backend.ip} of {key}",
            service_spec=None,
            fixed_service=key,
            ip=backend.ip,
            mac=backend.mac,
            weight=backend.weight,
            drained=backend.draining and backend.weight != 0,  # kept: editing never undrains
            lists=lists,
        )


@dataclass(frozen=True)
class EditorResult:
    services: tuple[ServiceKey, ...]
    dest: Destination
    lists: Mapping[ServiceKey, Members]  # what the form last showed: the edit's basis


DRAINED_NOTE = (
    "drained: it gets no new flows and stays drained with the new weight; "
    "x on the dashboard undrains it"
)
NEW_SERVICE = "create it as a new service"
CATCH_ALL_WARNING = (
    "blank = catch-all: ALL TCP and UDP traffic arriving on the interface is balanced"
)


def service_spec_note(spec: str, valid_note: str) -> Text:
    """What a services field says under itself: its error, the catch-all
    warning when blank, or `valid_note`."""
    note = CATCH_ALL_WARNING if not spec.strip() else valid_note
    try:
        notices = merge_service_specs(spec)[1]
    except ValueError as exc:
        return Text(str(exc))
    return Text("; ".join(notices) if notices else note)
