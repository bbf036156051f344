"""Every link the kernel knows, live: pick one to open its dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker, WorkerState

from l4lb_tui.console_backend import ConsoleBackend, ConsoleError, ConsoleSettings, LinkRow
from l4lb_tui.screens.dashboard import DashboardScreen
from l4lb_tui.screens.palette import PaletteCommand, from_bindings
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.status import StatusLine
from l4lb_tui.widgets.tables import Cell, LinkTable

XDP_LABELS = {"": "-", "driver": "driver", "generic": "generic", "offload": "offload"}


def link_cells(row: LinkRow) -> tuple[Cell, ...]:
    link = row.link
    state_style = {"UP": "green", "DOWN": "red"}.get(link.state, "yellow")
    return (
        link.ifname,
        Text(link.state, style=state_style),
        str(link.mtu),
        link.driver or "-",
        link.mac or "-",
        ", ".join(link.ipv4) or "-",
        XDP_LABELS.get(link.xdp_mode, link.xdp_mode),
        str(link.xdp_prog_id) if link.xdp_prog_id else "-",
        "yes" if link.can_offload else "no",
        Text("l4lb", style="bold cyan") if row.has_balancer else "-",
    )


def matches(row: LinkRow, text: str) -> bool:
    link = row.link
    hay = " ".join([link.ifname, link.driver, link.mac, link.state, link.xdp_mode, *link.ipv4])
    return text.lower() in hay.lower()


class InterfacesScreen(Screen[None]):
    """Polls the links every couple of seconds, like the dashboard polls counters."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", tooltip="open the dashboard of the highlighted link"),
        Binding("slash", "filter", "Filter", tooltip="filter links by typing"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("r", "refresh", "Refresh", tooltip="list the links again now"),
    ]

    DEFAULT_CSS = """
    InterfacesScreen #title { height: 1; padding: 0 1; background: $primary; color: $text; }
    InterfacesScreen #filter { display: none; }
    InterfacesScreen #filter.-shown { display: block; }
    InterfacesScreen LinkTable { height: 1fr; }
    """

    filter_text: reactive[str] = reactive("")

    @dataclass
    class Listed(Message):
        seq: int  # which listing this answers; only the latest counts
        rows: Sequence[LinkRow] | None
        error: str = ""

    def __init__(self, backend: ConsoleBackend, settings: ConsoleSettings) -> None:
        super().__init__()
        self.backend = backend
        self.settings = settings
        self.interval = settings.links_interval
        self.rows: list[LinkRow] = []
        self._timer: Timer | None = None
        self._seq = 0
        self._problems: list[str] = []
        self._covered = False  # polling stopped while another screen is on top

    def compose(self) -> ComposeResult:
        yield Static(Text("l4lb console — interfaces  (Enter opens a dashboard)"), id="title")
        yield Input(placeholder="filter: name, driver, MAC, address…", id="filter")
        yield LinkTable(id="links")
        yield StatusLine()
        yield KeyFooter()

    def on_mount(self) -> None:
        self._problems = self.backend.environment_problems()
        self.query_one(StatusLine).show(self._problems)
        self.query_one(LinkTable).focus()
        self.refresh_now()

    def palette_commands(self) -> list[PaletteCommand]:
        found = from_bindings(self.BINDINGS)
        found += [
            PaletteCommand(
                f"Open {r.link.ifname}", "open its dashboard", f"open_link('{r.link.ifname}')"
            )
            for r in self.rows
        ]
        return found

    # -- polling (timer re-armed after each render, so polls never overlap) ---

    def refresh_now(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._seq += 1
        self._list(self._seq)

    @work(thread=True, exclusive=True, exit_on_error=False, group="links")
    def _list(self, seq: int) -> None:
        try:
            rows = self.backend.links()
        except ConsoleError as exc:
            self.post_message(self.Listed(seq, None, str(exc)))
            return
        self.post_message(self.Listed(seq, rows))

    @on(Listed)
    def _listed(self, message: Listed) -> None:
        if message.seq != self._seq:
            return  # superseded by a newer listing, which re-arms the timer
        status = self.query_one(StatusLine)
        if message.rows is None:
            status.show([*self._problems, message.error], error=True)
        else:
            self.rows = list(message.rows)
            status.show(self._problems)
            self._show()
        self._rearm()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "links" and event.state == WorkerState.ERROR:
            # A bug, not an operator error: say so and keep the console alive.
            self.query_one(StatusLine).show([f"listing links failed: {event.worker.error!r}"], True)
            self._rearm()

    def _rearm(self) -> None:
        if self._timer is not None:  # never two timers: one chain of polls
            self._timer.stop()
            self._timer = None
        if self.interval is not None and self.is_attached:
            self._timer = self.set_timer(self.interval, self._tick)

    def _tick(self) -> None:
        # Under a dashboard nobody sees this list: wait, and list again on resume.
        if self.is_active:
            self.refresh_now()
        else:
            self._timer = None
            self._covered = True

    def on_screen_resume(self) -> None:
        if self._covered:
            self._covered = False
            self.refresh_now()

    def _show(self) -> None:
        shown = sorted(
            (r for r in self.rows if matches(r, self.filter_text)), key=lambda r: r.link.ifindex
        )
        self.query_one(LinkTable).sync([(r.link.ifname, link_cells(r)) for r in shown])

    def watch_filter_text(self) -> None:
        if self.is_mounted:
            self._show()

    # -- actions -----------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(LinkTable).focus()

    @on(DataTable.RowSelected, "#links")
    def _picked(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.action_open_link(event.row_key.value)

    def action_open(self) -> None:
        key = self.query_one(LinkTable).current_key
        if key:
            self.action_open_link(key)

    def action_open_link(self, ifname: str) -> None:
        self.app.push_screen(DashboardScreen(self.backend, ifname, self.settings))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.query_one(LinkTable).focus()

    def action_refresh(self) -> None:
        self.refresh_now()
