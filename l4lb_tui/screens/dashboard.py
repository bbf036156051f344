"""One interface's balancer: live rates, per-backend sparklines, a chart, and
every change the operator makes (mode, load, add/edit/delete, drain, undo, save).

It polls through a PollLoop (polls never overlap, a slow bpftool never piles
up); nothing is polled while paused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widgets import DataTable
from textual.worker import Worker, WorkerState

from l4lb_tui.abi import ServiceKey
from l4lb_tui.console_backend import (
    ConsoleBackend,
    ConsoleSettings,
    Sample,
    no_balancer_note,
    no_ethernet,
)
from l4lb_tui.console_files import save_csv
from l4lb_tui.model import Backend, State
from l4lb_tui.netlink import LinkInfo
from l4lb_tui.screens.confirm import ConfirmScreen
from l4lb_tui.screens.dashboard_features import DashboardFeatures, feature_commands, offered, opener
from l4lb_tui.screens.editor import EditorRequest, EditorResult, EditorScreen
from l4lb_tui.screens.load import LoadRequest, LoadScreen
from l4lb_tui.screens.mode import ModeScreen, mode_commands
from l4lb_tui.screens.palette import PaletteCommand, from_bindings
from l4lb_tui.screens.polling import Polled, PollLoop
from l4lb_tui.screens.refusal import RefusalScreen, first_line
from l4lb_tui.screens.save import SaveScreen, save_default, save_heading
from l4lb_tui.screens.writing import WriteRunner, Written
from l4lb_tui.services import service_spec
from l4lb_tui.stats import StatsView
from l4lb_tui.viewmodels import edits, layout
from l4lb_tui.viewmodels.applying import carry_out
from l4lb_tui.viewmodels.backend_rows import (
    ServiceScope,
    pick_rows,
    sorted_lines,
    target_service,
)
from l4lb_tui.viewmodels.feed import Digest, Feed
from l4lb_tui.widgets.chart import ThroughputChart
from l4lb_tui.widgets.filter import FilterBox
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.header import DashboardHeader
from l4lb_tui.widgets.status import StatusLine
from l4lb_tui.widgets.tables import BackendTable


class DashboardScreen(DashboardFeatures):
    # Sort, detail, events, refresh rate, redo, config and --readonly:
    # DashboardFeatures (screens/dashboard_features.py), with their keys.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", tooltip="back to the interfaces (or clear the filter)"),
        Binding("slash", "filter", "Filter", tooltip="filter backends by IP, MAC or service"),
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
            self._show_header()
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

    # -- selection helpers -------------------------------------------------

    def _selected(self) -> tuple[ServiceKey, Backend] | None:
        key = self.query_one(BackendTable).current_key
        return self._digest.where.get(key) if key else None

    def _highlighted(self) -> tuple[ServiceKey, Backend] | None:
        """The highlighted backend, or None after saying there is none, or
        after bringing it into sight: a key never acts on a row unseen."""
        picked = self._selected()
        table = self.query_one(BackendTable)
        if picked is None:
            self._warn("no backend highlighted")
        elif not table.cursor_in_view():
            self._warn(table.reveal_cursor(picked[1].ip))
            return None
        return picked

    def _target_service(self) -> ServiceKey | None:
        picked = self._selected()
        keys = [s.key for s in self.state.services] if self.state else []
        return target_service(picked[0] if picked else None, keys, self.scope.current)

    def _need_balancer(self) -> bool:
        if not self.answered:
            self._warn(f"still reading {self.ifname}…")
            return False
        if self.state is None:
            self._warn(
                no_balancer_note(self.link) if self.link else f"no balancer on {self.ifname}"
            )
        return self.state is not None

    def _warn(self, text: str) -> None:
        self.notify(text, severity="warning", markup=False)

    # -- writing (one at a time, in a thread) ----------------------------------

    @on(Written)
    def _written(self, message: Written) -> None:
        done = self._features_written(message.outcome)
        self.writes.busy = False
        self.undo_stack = done.undo_stack(self.undo_stack)
        if done.ok:
            self.notify(done.message, title=self.ifname, markup=False)
            if done.change is not None:
                self.seen.wrote(done.change)
        else:
            self.refusal = done.message
            line, more = first_line(done.message)
            more_text = "  (i: the details)" if more else ""
            self.notify(
                line + more_text, title="refused", severity="error", timeout=12, markup=False
            )
        self.poll_now()

    def apply(self, intent: edits.Intent, undo: bool = False) -> None:
        """Ask the balancer to make the change in one step under its lock."""
        backend, ifname = self.backend, self.ifname
        self.writes.start(lambda: carry_out(backend, ifname, intent), undo)

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

    def action_details(self) -> None:
        if not self.refusal:
            self._warn("no refusal to show")
            return
        self.app.push_screen(RefusalScreen("the last refusal (Esc closes)", self.refusal))

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

    def action_mode(self) -> None:
        current = self.state.mode if self.state else ""
        link = self.link
        screen = ModeScreen(
            self.ifname,
            current,
            self.state is not None,
            can_offload=link.can_offload if link else True,
            no_ethernet=bool(link and no_ethernet(link)),
        )
        self.app.push_screen(screen, self._mode_chosen)

    def _mode_chosen(self, choice: str | None) -> None:
        if choice == "detach":
            self.action_detach()
        elif choice:
            self.action_set_mode(choice)

    def action_set_mode(self, mode: str) -> None:
        self.writes.run(lambda: self.backend.attach(self.ifname, mode))

    def action_detach(self) -> None:
        if not self._need_balancer():
            return
        question = (
            f"Detach the balancer from {self.ifname}? Traffic is no longer balanced and its "
            "maps and counters are removed. Undo cannot bring them back."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.writes.run(lambda: self.backend.detach(self.ifname))

        self.app.push_screen(ConfirmScreen("Detach", question), answered)

    def action_load(self) -> None:
        if not self._need_balancer():
            return
        key = self._target_service()
        start = self.csv_path or self.settings.start_dir
        spec = service_spec(key) if key else ""
        seen = edits.frozen(self.seen.lists())  # what the file replaces
        screen = LoadScreen(self.ifname, start, spec)
        self.app.push_screen(screen, lambda request: self._load_chosen(seen, request))

    def _load_chosen(self, seen: edits.Lists, request: LoadRequest | None) -> None:
        if request is None:
            return
        self.csv_path = self.loaded_from = request.path
        self.apply(edits.load(seen, request.services, request.dests))

    def action_add(self) -> None:
        if not self._need_balancer():
            return
        key = self._target_service()
        request = EditorRequest.adding(self.ifname, key, self.seen.lists())
        screen = EditorScreen(request, self.backend.neighbour_mac)
        self.app.push_screen(screen, self._added)

    def _added(self, result: EditorResult | None) -> None:
        if result is not None:
            self.apply(edits.add(edits.frozen(result.lists), result.services, result.dest))

    def action_edit(self) -> None:
        picked = self._highlighted()
        if picked is None:
            return
        key, be = picked
        request = EditorRequest.editing(key, be, self.seen.lists())
        screen = EditorScreen(request, self.backend.neighbour_mac)
        self.app.push_screen(screen, lambda result: self._edited(key, be.ip, result))

    @on(DataTable.RowSelected, "#backends")
    def _row_chosen(self) -> None:
        self.action_detail()

    def _edited(self, key: ServiceKey, old_ip: str, result: EditorResult | None) -> None:
        if result is not None:
            # Against the lists the form last showed: it follows other writers.
            self.apply(edits.edit(edits.frozen(result.lists), key, old_ip, result.dest))

    def action_delete(self) -> None:
        picked = self._highlighted()
        if picked is None:
            return
        key, be = picked
        question = f"Remove {be.ip} ({be.mac}) from {key}? u undoes it."
        if len(edits.members(self.state, key)) == 1:
            question += " It is the service's last backend: its traffic will be dropped."
        seen = edits.frozen(self.seen.lists())  # what the question shows

        def answered(yes: bool | None) -> None:
            if yes:
                self.apply(edits.delete(seen, key, be.ip))

        self.app.push_screen(ConfirmScreen("Delete backend", question), answered)

    def action_drain(self) -> None:
        picked = self._highlighted()
        if picked is not None:
            self.apply(edits.drain(self.seen, *picked))

    def action_cycle_service(self) -> None:
        if self.view is None or not self.view.services:
            self._warn("no services to show")
            return
        self.scope.cycle(self.view.services)
        self._redraw()
        self.query_one(BackendTable).move_cursor(row=0)

    def action_undo(self) -> None:
        if not self.undo_stack:
            self._warn("nothing to undo")
            return
        # Undo puts back what the change touched, unless another writer has changed it since.
        self.apply(self.undo_stack[-1].undo(), undo=True)

    def action_save(self) -> None:
        key = self._target_service()
        if key is None:
            self._warn("no service to save: load or add backends first")
            return
        count = len(edits.members(self.state, key))
        folder = self.csv_path.parent if self.csv_path else self.settings.start_dir
        default = save_default(folder, self.ifname, key, self.loaded_from)
        ifname = self.ifname

        def save(path: Path) -> str:
            heading = save_heading(key, ifname, datetime.now(UTC))
            # What the kernel holds when saving, not the last poll's copy.
            done = save_csv(path, edits.members(self.backend.state(ifname), key), heading)
            return self.saved_to(path, done)

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.writes.run(lambda: save(path))

        self.app.push_screen(SaveScreen(str(key), count, default), chosen)
