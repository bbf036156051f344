"""One interface's balancer: live rates, per-backend sparklines, a chart, and
every change the operator makes (mode, load, add/edit/delete, drain, undo, save).

It polls through a PollLoop (polls never overlap, a slow bpftool never piles
up); nothing is polled while paused.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widgets import DataTable
from textual.worker import Worker, WorkerState

from l4lb_tui.console_backend import (
    ConsoleBackend,
    ConsoleSettings,
    Sample,
    no_ethernet,
)
from l4lb_tui.model import State
from l4lb_tui.netlink import LinkInfo
from l4lb_tui.screens.dashboard_edits import DashboardEdits
from l4lb_tui.screens.dashboard_features import feature_commands, offered, opener
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.screens.mode import mode_commands
from l4lb_tui.screens.palette import PaletteCommand, from_bindings
from l4lb_tui.screens.polling import Polled, PollLoop
from l4lb_tui.screens.writing import WriteRunner
from l4lb_tui.stats import StatsView
from l4lb_tui.viewmodels import edits, layout
from l4lb_tui.viewmodels.backend_rows import (
    ServiceScope,
    pick_rows,
    sorted_lines,
    without_rates,
)
from l4lb_tui.viewmodels.feed import Digest, Feed
from l4lb_tui.widgets.chart import ThroughputChart
from l4lb_tui.widgets.filter import FilterBox
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.header import DashboardHeader
from l4lb_tui.widgets.status import StatusLine
from l4lb_tui.widgets.tables import BackendTable


class DashboardScreen(DashboardEdits):
    # The edits these keys make: DashboardEdits (screens/dashboard_edits.py).
    # Sort, detail, events, refresh rate, redo, config and --readonly:
    # DashboardFeatures (screens/dashboard_features.py), with their keys.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", tooltip="back to the interfaces (or clear the filter)"),
        Binding("slash", "filter", "Filter", tooltip="filter backends by IP, MAC or service"),
        Binding("N", "app.nodes", "Nodes", show=False, tooltip="the scale-out nodes (BGP, prints)"),
        opener("a", "add", "Add", "add a backend to the highlighted service"),
        opener("e", "edit", "Edit", "edit the highlighted backend"),
        Binding("d", "delete", "Delete", tooltip="delete the highlighted backend (asks first)"),
        Binding(
            "x",
            "drain",
            "Drain",
            tooltip="stop new flows to the highlighted backend, keeping its established ones "
            "(x again undrains)",
        ),
        Binding(
            "u", "undo", "Undo", tooltip="undo the last change (add, edit, delete, drain, load)"
        ),
        Binding("v", "cycle_service", "Service view", tooltip="all services, or one at a time"),
        Binding("m", "mode", "Mode", tooltip="attach, detach, or switch driver/generic/offload"),
        Binding("l", "load", "Load CSV", tooltip="load a destinations CSV into services"),
        Binding("s", "save", "Save CSV", tooltip="save the highlighted service's backends"),
        Binding("p", "pause", "Pause", tooltip="pause or resume the live updates"),
        Binding(
            "c",
            "toggle_chart",
            "Chart",
            tooltip="show or hide the chart (by default it shows when the table keeps 10 rows)",
        ),
        Binding("i", "details", "Details", tooltip="the whole text of the last refusal"),
    ]

    DEFAULT_CSS = """
    DashboardScreen BackendTable { height: 1fr; }
    DashboardScreen ThroughputChart { height: 14; }
    DashboardScreen ThroughputChart.-hidden { display: none; }
    """

    paused: reactive[bool] = reactive(False)
    filter_text: reactive[str] = reactive("")

    def __init__(self, backend: ConsoleBackend, ifname: str, settings: ConsoleSettings) -> None:
        super().__init__()
        self.backend = backend
        self.ifname = ifname
        self.settings = settings
        self.state: State | None = None
        self.view: StatsView | None = None
        self.feed = Feed()  # rates, history and rows, computed in the poll's thread
        self._digest = Digest(None, None, {})  # the one shown
        self.scope = ServiceScope()  # all services, or the one `v` picked
        self.undo_stack: list[edits.Applied] = []
        self.seen = edits.Seen()  # what edits are made against
        self.csv_path = settings.start_file  # the last file loaded or saved
        self.loaded_from: Path | None = None  # the last file loaded: saved over only if asked
        self.polls = PollLoop(self, "poll", self._sample, self._interval)
        self.writes = WriteRunner(self)
        self._dirty = False
        self.stale = False  # the last poll failed: the figures shown are old
        self.answered = False  # a poll has answered: until then, "reading…"
        self.link: LinkInfo | None = None  # the link, as the last poll found it
        self.chart_choice: bool | None = None  # `c`: shown, hidden, or None: by size
        self._chart_lines = 0  # the chart's height as last set
        self.refusal = ""  # the last refusal, whole: `i` shows it

    def compose(self) -> ComposeResult:
        yield DashboardHeader()
        yield FilterBox("filter backends: IP, MAC or service…", table="#backends")
        yield BackendTable(id="backends")
        yield ThroughputChart()
        yield StatusLine()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = self.ifname
        self.query_one(BackendTable).focus()
        self._redraw()
        self.poll_now()

    def on_resize(self) -> None:
        # After the layout: the header's lines depend on its new width.
        self.call_after_refresh(self._relayout)

    def _relayout(self) -> None:
        self._show_header()
        self._fit()
        self.call_after_refresh(self._keep_cursor_in_sight)

    def _keep_cursor_in_sight(self) -> None:
        """After the table changed height, the highlighted row is still seen."""
        table = self.query_one(BackendTable)
        if table.row_count and not table.cursor_in_view():
            table.reveal_cursor()

    def _fit(self) -> None:
        """Share the lines between the table and the chart (viewmodels/layout)."""
        header, status = self.query_one(DashboardHeader), self.query_one(StatusLine)
        taken = header.lines + 2  # the table's heading and the footer
        taken += min(len(status.messages), 3) + (3 if self.query_one(FilterBox).is_open else 0)
        lines = layout.chart_lines(self.size.height, taken, self.chart_choice)
        chart = self.query_one(ThroughputChart)
        was_shown = not chart.has_class("-hidden")
        chart.set_class(lines == 0, "-hidden")
        if lines and self._chart_lines != lines:
            chart.styles.height = self._chart_lines = lines
        if lines and not was_shown:
            chart.show(self._digest.chart)

    def palette_commands(self) -> list[PaletteCommand]:
        found = from_bindings(self.BINDINGS) + feature_commands()
        return offered(found + mode_commands(self.ifname), self.settings.readonly)

    # -- polling --------------------------------------------------------------

    def poll_now(self) -> None:
        self.polls.now()

    def _interval(self) -> float | None:
        return None if self.paused else self.refresh_interval

    def _sample(self, seq: int) -> tuple[Sample, Digest | None]:
        sample = self.backend.sample(self.ifname)
        # A poll superseded meanwhile (by a write's) is not rendered: its
        # sample does not go into the history either (None: not to render).
        return sample, self.feed.ingest(sample) if self.polls.is_current(seq) else None

    @on(Polled)
    def _polled(self, message: Polled[tuple[Sample, Digest | None]]) -> None:
        if not self.polls.answers(message):
            return
        self.stale = message.result is None
        if message.result is None:
            self.query_one(StatusLine).show([message.error], error=True)
            if self._digest.rated:  # its rates are old now: dashes, not figures
                lines = without_rates(self._digest.lines)
                self._digest = replace(self._digest, lines=lines, rated=False)
            if self.is_active:
                self._redraw()
            else:
                self._dirty = True
        else:
            self.answered = True
            sample, digest = message.result
            self.link = sample.link
            if sample.ifname != self.ifname:  # renamed: its balancer went with it
                self.notify(f"{self.ifname} is now {sample.ifname}", markup=False)
                self.ifname = self.sub_title = sample.ifname
            if digest is not None:
                self._apply(digest)
                if isinstance(self.app.screen, EditorScreen):
                    self.app.screen.lists = self.seen.lists()  # an open form follows too
            self.query_one(StatusLine).show(sample.notes)
            if self.is_active:
                self._redraw()
            else:
                self._dirty = True  # a modal is open: render when it closes
        self.polls.rearm()

    def _ingest(self, sample: Sample) -> None:
        """What a poll does with its sample, here on the UI thread (tests)."""
        digest = self.feed.ingest(sample)
        if digest is not None:
            self._apply(digest)

    def _apply(self, digest: Digest) -> None:
        self._digest = digest
        self.state, self.view = digest.state, digest.view
        self.seen.polled(digest.state)
        if digest.state is None:
            self.undo_stack.clear()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        # Not an operator error but a bug: say so on screen, keep working
        # (a failed poll re-arms its loop, a failed write lets the next start).
        error = f"internal error in {event.worker.group}: {event.worker.error!r}"
        self.query_one(StatusLine).show([error], error=True)
        if not self.polls.failed(event):
            self.writes.failed(event)

    def on_screen_resume(self) -> None:
        if self._dirty:
            self._redraw()

    # -- rendering ------------------------------------------------------------

    def _redraw(self) -> None:
        self._dirty = False
        if self.view is not None:
            self.scope.settle(self.view.services)  # the service shown may be gone
        self._show_header()
        lines = sorted_lines(self._digest.lines if self.view is not None else (), self.backend_sort)
        self.query_one(BackendTable).sync(pick_rows(lines, self.filter_text, self.scope.current))
        chart = self.query_one(ThroughputChart)
        if not chart.has_class("-hidden"):  # a hidden chart costs nothing
            chart.show(self._digest.chart)
        self._fit()

    def _show_header(self) -> None:
        header = self.query_one(DashboardHeader)
        stale = self.stale and self.view is not None
        header.show_view(
            self.ifname,
            self.view,
            self.paused,
            stale,
            self.scope,
            reading=not self.answered,
            rated=self._digest.rated,
            compact=layout.compact_header(self.size.height),
            attachable=not (self.link and no_ethernet(self.link)),
        )
        self._show_features()

    def watch_paused(self) -> None:
        if self.is_mounted:
            self._show_header()

    def watch_filter_text(self) -> None:
        if self.is_mounted:
            self._redraw()

    # -- actions ----------------------------------------------------------------

    def action_back(self) -> None:
        box = self.query_one(FilterBox)
        if box.is_open:
            box.close()
            self._fit()
            return
        self.dismiss()

    def action_filter(self) -> None:
        self.query_one(FilterBox).open()
        self._fit()

    def action_toggle_chart(self) -> None:
        shown = not self.query_one(ThroughputChart).has_class("-hidden")
        self.chart_choice = not shown
        self._fit()
        self.call_after_refresh(self._keep_cursor_in_sight)
        self.notify(f"chart {'shown' if not shown else 'hidden'}: c toggles it", markup=False)

    @on(FilterBox.Filtered)
    def _filter_changed(self, event: FilterBox.Filtered) -> None:
        self.filter_text = event.text

    def action_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            self.polls.stop()
            self.notify("updates paused: p resumes", markup=False)
        else:
            self.poll_now()

    @on(DataTable.RowSelected, "#backends")
    def _row_chosen(self) -> None:
        self.action_detail()

    def action_cycle_service(self) -> None:
        if self.view is None or not self.view.services:
            self._warn("no services to show")
            return
        self.scope.cycle(self.view.services)
        self._redraw()
        self.query_one(BackendTable).move_cursor(row=0)
