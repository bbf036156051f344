"""The add and edit form's data, without Textual: what opens it (`EditorRequest`),
what it returns (`EditorResult`), and what a services field says under itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from rich.text import Text

from l4lb_tui import validation
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
    # The balancer's own addresses, refused while typing as the VIP is.
    own: OwnAddresses = field(default_factory=lambda: OwnAddresses())
    # Reopened after the balancer refused it: what was typed, and why.
    typed: EditorResult | None = None
    refusal: str = ""

    def again(
        self, result: EditorResult, refusal: str, lists: Mapping[ServiceKey, Members]
    ) -> EditorRequest:
        """The form as the operator left it, to fix what the balancer refused."""
        return replace(self, typed=result, refusal=refusal, lists=lists)

    @property
    def fields(self) -> tuple[str | None, str, str, str]:
        """What the service, IP, MAC and weight fields open with."""
        if self.typed is None:
            return self.service_spec, self.ip, self.mac, str(self.weight)
        dest = self.typed.dest
        spec = self.typed.spec if self.service_spec is not None else None
        return spec, dest.ip, dest.mac, str(dest.weight)

    @classmethod
    def adding(
        cls,
        ifname: str,
        key: ServiceKey | None,
        lists: Mapping[ServiceKey, Members],
        own: OwnAddresses | None = None,
    ) -> EditorRequest:
        """A new backend, for service `key` (None: the operator names one)."""
        spec = service_spec(key) if key else ""
        return cls(f"Add a backend on {ifname}", spec, lists=lists, own=own or OwnAddresses())

    @classmethod
    def editing(
        cls,
        key: ServiceKey,
        backend: Backend,
        lists: Mapping[ServiceKey, Members],
        own: OwnAddresses | None = None,
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
            own=own or OwnAddresses(),
        )


@dataclass(frozen=True)
class EditorResult:
    services: tuple[ServiceKey, ...]
    dest: Destination
    lists: Mapping[ServiceKey, Members]  # what the form last showed: the edit's basis
    spec: str | None = None  # the services as typed (add)
    new_service: bool = False  # the operator ticked "create it as a new service"


@dataclass(frozen=True)
class OwnAddresses:
    """The balancer's own addresses, which a backend cannot be: its link's
    ("ADDR/PREFIX", as netlink lists them) and its outer sources (-s,
    --source6 of attach)."""

    ifname: str = ""
    link: Sequence[str] = ()
    sources: Sequence[tuple[str, str]] = ()  # (address, the attach flag that set it)

    def problem(self, ip: str) -> str | None:
        """Why `ip` cannot be a backend here (the balancer's words), or None."""
        if own := validation.own_address_problem(ip, self.link, self.ifname):
            return own
        flag = next((f for addr, f in self.sources if addr == ip), None)
        if flag is None:
            return None
        return (
            f"{ip} is the balancer's outer source address ({flag} of attach): "
            "it cannot be a backend"
        )


def ip_placeholder(keys: Sequence[ServiceKey]) -> str:
    """The IP field's example, of the services' family."""
    return "fd00::11" if any(":" in k.vip for k in keys) else "10.0.0.11"


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
