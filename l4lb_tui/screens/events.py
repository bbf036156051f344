"""`E`: the event log, who changed what and when (this console, another
console, the CLI, the daemon and its health checks), read back from the
JSON-lines log every writer appends to, so a second console sees the first
one's edits.  Polled in a thread worker like every other screen."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Static

from l4lb_tui.console_backend import ConsoleBackend
from l4lb_tui.events import Event
from l4lb_tui.screens.polling import Polled, PollLoop
from l4lb_tui.viewmodels.event_rows import event_rows, keyed, whole_entry
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.tables import Column, KeyTable

SHOWN = 2000  # the newest events read each time


class EventTable(KeyTable):
    # What always shows: at 80 columns the service (which What names too)
    # goes first, and the rest are narrow enough to leave What 30 cells.
    COLUMNS = (
        Column("when", "When", 11),  # "16:30:14" today, "11-29 16:30" before, "2025-11-29"
        Column("who", "Who", 22),  # "health pid 4194304": a pid is never cut
        Column("where", "Interface", 10, drop=1, narrowest=6),
        Column("target", "Service / backend", 24, drop=2, narrowest=14),
        Column("what", "What", 30, grow=True),
    )


class EventLogScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,E", "dismiss", "Back", tooltip="back to the dashboard"),
        Binding("f", "toggle_scope", "This interface/all", tooltip="only this interface's events"),
        Binding("r", "refresh", "Refresh", tooltip="read the event log again now"),
        Binding("enter", "show_entry", "Whole entry", tooltip="the highlighted entry, all of it"),
    ]

    DEFAULT_CSS = """
    EventLogScreen #title { height: 1; padding: 0 1; background: $primary; color: $text; }
    EventLogScreen EventTable { height: 1fr; }
    """

    only_here: reactive[bool] = reactive(False)

    def __init__(
        self,
        backend: ConsoleBackend,
        ifname: str,
        interval: float | None,
        names: Sequence[str] = (),
    ) -> None:
        """`names`: every name the interface had while this console watched
        it (`f` shows its events under each)."""
        super().__init__()
        self.backend = backend
        self.ifname = ifname
        self.names = (*names, ifname)
        self.interval = interval
        self.found: list[Event] = []
        self.polls: PollLoop[list[Event]] = PollLoop(
            self, "events", lambda _seq: self.backend.events(SHOWN), lambda: self.interval
        )

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield EventTable(id="events")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(EventTable).focus()
        self._title()
        self.polls.now()

    def _title(self) -> None:
        scope = f"{self.ifname} only (f: all)" if self.only_here else "all interfaces (f: one)"
        self.query_one("#title", Static).update(
            f"Event log: who changed what and when, newest first · {scope}"
        )

    @on(Polled)
    def _polled(self, message: Polled[list[Event]]) -> None:
        if not self.polls.answers(message):
            return
        if message.result is not None:
            self.found = message.result
            self._show()
        else:
            self.notify(message.error, severity="error", markup=False)
        self.polls.rearm()

    def _show(self) -> None:
        shown = self.names if self.only_here else None
        table = self.query_one(EventTable)
        hidden = "target" not in table.shown_columns  # What names the service then
        table.sync(event_rows(self.found, os.getpid(), shown, with_service=hidden))

    def on_resize(self) -> None:
        # After the table has fitted its columns to the new width.
        self.call_after_refresh(self._show)

    @on(DataTable.RowSelected)
    def _whole_entry(self, event: DataTable.RowSelected) -> None:
        """Enter: the whole entry, What and all, which 80 columns cut."""
        shown = self.names if self.only_here else None
        entry = dict(keyed(self.found, shown)).get(str(event.row_key.value))
        if entry is not None:
            self.notify(whole_entry(entry, os.getpid()), timeout=20, markup=False)

    def watch_only_here(self) -> None:
        if self.is_mounted:
            self._title()
            self._show()

    def action_toggle_scope(self) -> None:
        self.only_here = not self.only_here

    def action_show_entry(self) -> None:
        self.query_one(EventTable).action_select_cursor()

    def action_refresh(self) -> None:
        self.polls.now()

    def action_dismiss(self, result: Any = None) -> Any:
        self.polls.stop()
        return super().action_dismiss(result)
