"""What the console's screens ask of the control plane: the `ConsoleBackend`
protocol and the types it answers with.

Screens never run bpftool or netlink themselves: they call a ConsoleBackend,
`RealBackend` (console_kernel.py) or, for `l4lb-tui --demo` and the tests,
`FakeBackend` (console_demo.py).  Every method may be called from a worker
thread, and every failure the operator can meet arrives as one
`ConsoleError` whose message is complete (the kernel's or bpftool's own
words), so screens show it and carry on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from l4lb_tui import abi, backend_edits, flowsize
from l4lb_tui.console_daemon import DaemonView
from l4lb_tui.events import Event
from l4lb_tui.model import Counters, State
from l4lb_tui.netlink import LinkInfo


class ConsoleError(Exception):
    """Something the operator must read; the message is complete on its own."""


class StaleError(ConsoleError):
    """An edit refused because another writer changed what it was made against."""

    def __init__(self, changed: backend_edits.SetChanged) -> None:
        super().__init__(str(changed))
        self.changed = changed


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    poll_interval: float | None = 1.0  # dashboard; None: poll only when asked (tests)
    links_interval: float | None = 2.0  # interfaces screen
    start_dir: Path = field(default_factory=Path.cwd)  # where file pickers open
    readonly: bool = False  # --readonly: no key that writes is offered
    start_file: Path | None = None  # the file the load dialog offers first (the lab's CSV)


@dataclass(frozen=True, slots=True)
class LinkRow:
    """One interface as the interfaces screen lists it."""

    link: LinkInfo
    has_balancer: bool  # this product's pins exist for the interface


@dataclass(frozen=True, slots=True)
class Sample:
    """One poll of one interface.

    `state` and `counters` are None when no balancer is loaded there; `notes`
    are warnings the dashboard keeps on its status line (program replaced,
    link down, ...), as opposed to errors, which raise.
    """

    ifname: str
    link: LinkInfo
    state: State | None
    counters: Counters | None
    notes: tuple[str, ...] = ()
    daemon: DaemonView | None = None  # a daemon's health and config drift; None: no daemon


Change = backend_edits.Change


class ConsoleBackend(Protocol):
    def environment_problems(self) -> list[str]: ...
    def links(self) -> list[LinkRow]: ...
    def sample(self, ifname: str) -> Sample: ...
    def state(self, ifname: str) -> State | None: ...
    def attach(self, ifname: str, mode: str) -> str: ...
    def new_table(self, ifname: str) -> str: ...
    def detach(self, ifname: str) -> str: ...
    def edit(self, ifname: str, changes: Mapping[abi.ServiceKey, Change]) -> backend_edits.Done: ...
    def neighbour_mac(self, ip: str, ifname: str = "", ask: bool = False) -> str | None: ...
    def journal(self, what: str, interface: str, service: str = "") -> None: ...
    def events(self, last: int = 1000) -> list[Event]: ...
    def export_config(self) -> str: ...


def no_ethernet(link: LinkInfo) -> bool:
    """A link with no Ethernet address (lo, a tunnel): the balancer, which
    rewrites Ethernet headers, cannot run there."""
    return link.mac in {"", "00:00:00:00:00:00"}


def no_balancer_note(link: LinkInfo) -> str:
    """What the dashboard of a link with no balancer says: how to attach one,
    unless none can run there (lo is not invited to press m)."""
    if no_ethernet(link):
        return f"{link.ifname} has no Ethernet address: the balancer cannot run on it"
    return f"no balancer on {link.ifname}: press m to attach one"


def attachment_notes(state: State, link: LinkInfo) -> tuple[str, ...]:
    """Warnings for a balancer whose program is no longer the attached one."""
    notes = []
    att = state.attachment
    if att is None:
        notes.append(
            f"the balancer is loaded but not attached to {state.ifname} "
            "(detached by someone else?): press m to attach"
        )
    elif att.prog_id != state.prog_id:
        notes.append(
            f"{state.ifname} now runs another XDP program (id {att.prog_id}, {att.mode} mode); "
            f"this balancer's program {state.prog_id} gets no traffic"
        )
    if link.state == "DOWN" or not link.admin_up:
        notes.append(f"{state.ifname} is down")
    return tuple(notes)


def new_table_line(flows: int, flows6: int = flowsize.DEFAULT_FLOWS6, config: str = "") -> str:
    """What attaching a new balancer allocates, said before it is chosen."""
    asked = f", as the daemon's config {config} asks" if config else " (the default)"
    return f"A new balancer's {flowsize.describe(flows)}; {flowsize.describe6(flows6)}{asked}"
