"""The dashboard's operator features beyond the table and its edits: sort
(htop's `<` `>` `I`), a backend's detail (Enter), the event log (`E`), the
refresh rate (`+` `-`), redo (ctrl+r), the running state saved as a config
(`S`), the daemon's line (health, config drift), and `--readonly`.

A base class of DashboardScreen, so the dashboard's own module keeps its
table, polls and edits; everything named here reads the dashboard's state
(declared below) and never polls on its own.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from l4lb_tui.console_backend import ConsoleBackend, ConsoleSettings
from l4lb_tui.console_config import save_config
from l4lb_tui.model import State
from l4lb_tui.screens.detail import DetailScreen
from l4lb_tui.screens.events import EventLogScreen
from l4lb_tui.screens.palette import PaletteCommand
from l4lb_tui.screens.polling import PollLoop
from l4lb_tui.screens.save import SaveScreen, save_hint
from l4lb_tui.screens.writing import WriteRunner
from l4lb_tui.stats import StatsView
from l4lb_tui.viewmodels import edits
from l4lb_tui.viewmodels.applying import carry_out
from l4lb_tui.viewmodels.detail import BackendDetail, ring_share, traffic_share
from l4lb_tui.viewmodels.sorting import SortOrder
from l4lb_tui.widgets.daemon_bar import DaemonBar
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.inputs import PathSuggester
from l4lb_tui.widgets.status import StatusLine
from l4lb_tui.widgets.tables import BackendTable

if TYPE_CHECKING:
    from l4lb_tui.viewmodels.feed import Digest, Feed

# What a read-only console neither offers nor does: every action that asks
# the balancer to change (saving a file changes no balancer and stays).
WRITE_ACTIONS = frozenset(
    {"add", "edit", "open_form", "delete", "drain", "undo", "redo", "mode", "set_mode", "detach"}
    | {"load"}
)


def opener(key: str, which: str, description: str, tooltip: str) -> Binding:
    """`a` and `e`: their form opens while the key is handled (a priority
    binding), before the keys typed after it (a fast Tab, an IP) reach the
    dashboard and are lost."""
    return Binding(key, f"open_form('{which}')", description, tooltip=tooltip, priority=True)


RATES = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)  # seconds between polls, `+` and `-` step through

FEATURE_BINDINGS: list[BindingType] = [
    # The footer shows the few an operator looks for; `?` lists them all.
    Binding(
        "enter",
        "detail",
        "Detail",
        tooltip="the highlighted backend over the last 10 min",
        show=False,
    ),
    Binding("greater_than_sign", "sort(1)", "Sort", tooltip="sort by the next column"),
    Binding(
        "less_than_sign", "sort(-1)", "Sort back", tooltip="sort by the previous column", show=False
    ),
    Binding("I", "sort_flip", "Invert sort", tooltip="turn the sort over", show=False),
    Binding("E", "events", "Events", tooltip="who changed what and when (every writer)"),
    Binding("plus", "refresh_rate(-1)", "Faster", tooltip="refresh more often", show=False),
    Binding("minus", "refresh_rate(1)", "Slower", tooltip="refresh less often", show=False),
    Binding("ctrl+r", "redo", "Redo", tooltip="redo the last change undone"),
    Binding(
        "S",
        "save_config",
        "Save config",
        tooltip="save the running state as a config file (what 'l4lb export' prints)",
        show=False,
    ),
]


def feature_commands() -> list[PaletteCommand]:
    """These keys as palette commands: all of them, the footer's few or not."""
    return [
        PaletteCommand(b.description, b.tooltip or b.description, b.action, b.key.split(",")[0])
        for b in FEATURE_BINDINGS
        if isinstance(b, Binding) and b.description
    ]


def write_keys(screen: type[Screen[Any]]) -> frozenset[str]:
    """The keys of `screen`'s bindings that change a balancer."""
    return frozenset(
        key.strip()
        for cls in screen.__mro__
        for b in getattr(cls, "BINDINGS", ())
        if isinstance(b, Binding) and b.action.split("(")[0] in WRITE_ACTIONS
        for key in b.key.split(",")
    )


def offered(commands: list[PaletteCommand], readonly: bool) -> list[PaletteCommand]:
    """The palette's commands, without those that write when read-only."""
    if not readonly:
        return commands
    return [c for c in commands if c.action.split("(")[0] not in WRITE_ACTIONS]


class SaveConfigScreen(SaveScreen):
    """Where to save the running state as a config (a regular file only)."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Save the running balancers as a config (TOML)", style="bold"))
            yield Input(str(self.default), suggester=PathSuggester(), id="path")
            yield Static(id="note")
        yield KeyFooter()  # its own keys, not the dashboard's beneath

    def _note(self, path: Path) -> None:
        new = "new file; Enter saves, Esc cancels; 'l4lb apply -f FILE' restores it"
        self.query_one("#note", Static).update(Text(save_hint(path, new)))


class DashboardFeatures(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = FEATURE_BINDINGS

    # The dashboard's, read here.
    backend: ConsoleBackend
    ifname: str
    settings: ConsoleSettings
    feed: Feed
    _digest: Digest
    state: State | None
    view: StatsView | None
    undo_stack: list[edits.Applied]
    writes: WriteRunner
    paused: bool
    csv_path: Path | None

    backend_sort = SortOrder()
    rate_override: float | None = None
    _redoing: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.redo_stack: list[edits.Applied] = []
        self.names_had: list[str] = []  # the interface's names, for the event log's `f`

    def on_mount(self) -> None:
        self.mount(DaemonBar(), before=self.query_one(StatusLine))
        self._sort_labels()
        self._show_features()

    # -- read-only --------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Read-only: neither in the footer nor done.
        return not (self.settings.readonly and action in WRITE_ACTIONS)

    def on_key(self, event: events.Key) -> None:
        # Read-only, a writing key did nothing at all: say why, once a press.
        if not self.settings.readonly or isinstance(self.focused, Input):
            return
        if event.key in write_keys(type(self)):
            event.stop()
            self.notify("read-only console (--readonly): it changes nothing", markup=False)

    def action_open_form(self, which: str) -> None:
        if isinstance(self.focused, Input):  # typed into the filter: a letter
            raise SkipAction()
        getattr(self, f"action_{which}")()

    def saved_to(self, path: Path, done: str) -> str:
        """A file saved (in the write worker) is the last file; one that
        failed is not (the next `l` or `s` would open at it)."""
        self.app.call_from_thread(setattr, self, "csv_path", path)
        return done

    # -- the line under the table ------------------------------------------

    @property
    def refresh_interval(self) -> float | None:
        return self.rate_override if self.rate_override is not None else self.settings.poll_interval

    def _show_features(self) -> None:
        if not self.is_mounted or not self.query(DaemonBar):
            return
        self.query_one(DaemonBar).show(
            self._digest.daemon, self.refresh_interval, self.paused, self._sort_words()
        )

    # -- sort -----------------------------------------------------------------

    def _sort_words(self) -> str:
        return self.backend_sort.words({col.key: col.label for col in BackendTable.COLUMNS})

    def _sort_labels(self) -> None:
        table = self.query_one(BackendTable)
        widths = {BackendTable.COLUMNS[n].key: width for n, width in table.fitted}
        table.set_labels(
            {
                col.key: self.backend_sort.label(col.key, col.label, widths.get(col.key, col.width))
                for col in BackendTable.COLUMNS
            }
        )

    def _sorted(self) -> None:
        self._sort_labels()
        self._redraw()
        self.notify(f"sorted by {self._sort_words()}", timeout=2, markup=False)

    def action_sort(self, by: int) -> None:
        shown = self.query_one(BackendTable).shown_columns
        self.backend_sort = self.backend_sort.step(by, shown)
        self._sorted()

    def action_sort_flip(self) -> None:
        self.backend_sort = self.backend_sort.flipped()
        self._sorted()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        if event.data_table.id == "backends" and event.column_key.value:
            self.backend_sort = self.backend_sort.on(event.column_key.value)
            self._sorted()

    # -- detail, events ---------------------------------------------------------

    def action_detail(self) -> None:
        key = self.query_one(BackendTable).current_key
        if key is None:
            self.notify("no backend highlighted", severity="warning", markup=False)
            return
        index = int(key)
        state = self.state

        def source() -> BackendDetail | None:
            view = self._digest.view
            row = next((r for r in view.rows if r.index == index), None) if view else None
            if view is None or row is None:
                return None
            seconds, pps, bps = self.feed.long.series(index)
            changes = tuple(self.feed.changes.changes(index))
            share = traffic_share(view, row)
            return BackendDetail(row, tuple(seconds), tuple(pps), tuple(bps), changes, share, None)

        def ring() -> float:
            for svc in state.services if state else ():
                if any(b.index == index for b in svc.backends):
                    return ring_share(svc, index)
            return 0.0

        self.app.push_screen(DetailScreen(source, self.refresh_interval, ring))

    def action_events(self) -> None:
        names = self.names_had
        self.app.push_screen(
            EventLogScreen(self.backend, self.ifname, self.refresh_interval, names)
        )

    def watch_sub_title(self, name: str | None) -> None:
        # The dashboard's subtitle is its interface's name, renames included.
        if name and name not in self.names_had:
            self.names_had.append(name)

    # -- refresh rate ---------------------------------------------------------

    def action_refresh_rate(self, step: int) -> None:
        now = self.refresh_interval or 1.0
        at = min(range(len(RATES)), key=lambda n: abs(RATES[n] - now))
        self.rate_override = RATES[max(0, min(len(RATES) - 1, at + step))]
        self.notify(f"refresh every {self.rate_override:g} s", timeout=2, markup=False)
        if not self.paused:
            self.polls.rearm()
        self._show_features()

    # -- redo -------------------------------------------------------------------

    def action_redo(self) -> None:
        if not self.redo_stack:
            self.notify("nothing to redo", severity="warning", markup=False)
            return
        if self.writes.busy:
            self.notify(
                "still applying the previous change; try again", severity="warning", markup=False
            )
            return
        undone = self.redo_stack[-1]
        first = undone.summary.removeprefix("undo: ")
        # The undo of an undo, named for what it does again.
        intent = replace(undone.undo(), summary=f"redo: {first}", undoes="")
        backend, ifname = self.backend, self.ifname
        self._redoing = True
        self.writes.start(lambda: carry_out(backend, ifname, intent))

    def _features_written(self, done: edits.Outcome) -> edits.Outcome:
        """Redo's bookkeeping for a write that ended; the outcome the undo
        stack is kept by (a redo goes back on it under its first name)."""
        redoing, self._redoing = self._redoing, False
        if not done.ok or done.change is None:
            if redoing and done.stale and self.redo_stack:
                self.redo_stack.pop()  # it can never apply: the backends moved on
            return done
        if done.undo:
            self.redo_stack.append(done.change)
            return done
        if redoing and self.redo_stack:
            first = self.redo_stack.pop().summary.removeprefix("undo: ")
            return replace(done, change=replace(done.change, summary=first))
        self.redo_stack.clear()  # a new change: what was undone stays undone
        return done

    # -- the running state as a config ------------------------------------

    def action_save_config(self) -> None:
        default = self.settings.start_dir / "l4lb-running.toml"

        def chosen(path: Path | None) -> None:
            if path is not None:
                backend = self.backend
                self.writes.run(lambda: save_config(path, backend.export_config()))

        self.app.push_screen(SaveConfigScreen("the running balancers", 0, default), chosen)

    # -- what the dashboard defines ----------------------------------------------

    polls: PollLoop[Any]

    if TYPE_CHECKING:

        def _redraw(self) -> None: ...
