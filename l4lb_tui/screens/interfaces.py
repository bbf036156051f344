"""Every link the kernel knows, live: pick one to open its dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker

from l4lb_tui.console_backend import ConsoleBackend, ConsoleSettings, LinkRow
from l4lb_tui.screens.dashboard import DashboardScreen
from l4lb_tui.screens.palette import PaletteCommand, from_bindings
from l4lb_tui.screens.polling import Polled, PollLoop
from l4lb_tui.viewmodels.link_rows import link_cells, matches
from l4lb_tui.widgets.filter import FilterBox
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.status import StatusLine
from l4lb_tui.widgets.tables import LinkTable


class InterfacesScreen(Screen[None]):
    """Polls the links every couple of seconds, like the dashboard polls counters."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", tooltip="open the dashboard of the highlighted link"),
        Binding("slash", "filter", "Filter", tooltip="filter links by typing"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("r", "refresh", "Refresh", tooltip="list the links again now"),
        Binding("N", "app.nodes", "Nodes", tooltip="the scale-out nodes (BGP, prints)"),
    ]

    DEFAULT_CSS = """
    InterfacesScreen #title { height: 1; padding: 0 1; background: $primary; color: $text; }
    InterfacesScreen LinkTable { height: 1fr; }
    """

    filter_text: reactive[str] = reactive("")

    def __init__(self, backend: ConsoleBackend, settings: ConsoleSettings) -> None:
        super().__init__()
        self.backend = backend
        self.settings = settings
        self.interval = settings.links_interval
        self.rows: list[LinkRow] = []
        self.polls = PollLoop(self, "links", self._fetch, lambda: self.interval, self._tick)
        self._problems: list[str] = []
        self._covered = False  # polling stopped while another screen is on top

    def compose(self) -> ComposeResult:
        yield Static(Text("l4lb console — interfaces  (Enter opens a dashboard)"), id="title")
        yield FilterBox("filter: name, driver, MAC, address…", table="#links")
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

    # -- polling ---------------------------------------------------------------

    def refresh_now(self) -> None:
        self.polls.now()

    def _fetch(self, seq: int) -> Sequence[LinkRow]:
        return tuple(self.backend.links())  # posted to the UI thread: never changed after

    @on(Polled)
    def _listed(self, message: Polled[Sequence[LinkRow]]) -> None:
        if not self.polls.answers(message):
            return
        status = self.query_one(StatusLine)
        if message.result is None:
            status.show([*self._problems, message.error], error=True)
        else:
            self.rows = list(message.result)
            status.show(self._problems)
            self._show()
        self.polls.rearm()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if self.polls.failed(event):
            # A bug, not an operator error: say so and keep the console alive.
            self.query_one(StatusLine).show([f"listing links failed: {event.worker.error!r}"], True)

    def _tick(self) -> None:
        # Under a dashboard nobody sees this list: wait, and list again on resume.
        if self.is_active:
            self.refresh_now()
        else:
            self._covered = True

    def on_screen_resume(self) -> None:
        if self._covered:
            self._covered = False
            self.refresh_now()

    def _show(self) -> None:
        table = self.query_one(LinkTable)
        columns = table.shown_columns
        shown = sorted(
            (r for r in self.rows if matches(r, self.filter_text, columns)),
            key=lambda r: r.link.ifindex,
        )
        table.sync([(r.link.ifname, link_cells(r)) for r in shown])

    def on_resize(self) -> None:
        # A filter matches what is shown: after the table has fitted its columns.
        if self.filter_text:
            self.call_after_refresh(self._show)

    def watch_filter_text(self) -> None:
        if self.is_mounted:
            self._show()

    # -- actions -----------------------------------------------------------

    @on(FilterBox.Filtered)
    def _filter_changed(self, event: FilterBox.Filtered) -> None:
        self.filter_text = event.text

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
        self.query_one(FilterBox).open()

    def action_clear_filter(self) -> None:
        self.query_one(FilterBox).close()

    def action_refresh(self) -> None:
        self.refresh_now()
