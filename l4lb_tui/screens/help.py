"""`?`: every key of every screen, read from their BINDINGS so it never drifts."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from l4lb_tui.screens.confirm import ConfirmScreen
from l4lb_tui.screens.dashboard import DashboardScreen
from l4lb_tui.screens.dashboard_features import FEATURE_BINDINGS, WRITE_ACTIONS
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.screens.events import EventLogScreen
from l4lb_tui.screens.interfaces import InterfacesScreen
from l4lb_tui.screens.load import LoadScreen
from l4lb_tui.screens.mode import ModeScreen
from l4lb_tui.screens.nodes import NodesScreen
from l4lb_tui.screens.palette import shown_key
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.tables import KeyTable

BOX_WIDTH = 100
# Inside the box: its thick border, padding 0 2 and the scrollbar.  Should
# this drift, the first `?` renders the table at the real width (slower).
TABLE_WIDTH = BOX_WIDTH - 2 - 4 - 2

# Keys the console gets from Textual's own widgets, worth a line of their own.
WIDGET_KEYS: Sequence[BindingType] = (
    Binding("up,down", "", "move the highlight (j/k too)"),
    Binding("pageup,pagedown", "", "move a page"),
    Binding("enter", "", "open the highlighted row (a link's dashboard, a backend's detail)"),
    Binding("tab", "", "next field or button"),
    Binding("right", "", "accept a suggestion (path, neighbour MAC)"),
    Binding("ctrl+p", "", "command palette: every action by name"),
)


def key_label(key: str) -> str:
    return " ".join(shown_key(k) for k in key.split(","))


def sections(
    app_bindings: Iterable[BindingType], readonly: bool = False
) -> list[tuple[str, list[Binding]]]:
    def described(bindings: Iterable[BindingType]) -> list[Binding]:
        return [
            b
            for b in bindings
            if isinstance(b, Binding)
            and b.description
            and not (readonly and b.action.split("(")[0] in WRITE_ACTIONS)
        ]

    return [
        ("Everywhere", described(app_bindings)),
        ("Interfaces", described(InterfacesScreen.BINDINGS)),
        ("Dashboard", described(DashboardScreen.BINDINGS)),
        ("Dashboard: sort, detail, events, daemon", described(FEATURE_BINDINGS)),
        ("Event log", described(EventLogScreen.BINDINGS)),
        ("Tables and lists", described([*KeyTable.BINDINGS, *WIDGET_KEYS])),
        ("Mode", described(ModeScreen.BINDINGS)),
        ("Nodes (N)", described(NodesScreen.BINDINGS)),
        ("Load destinations", described(LoadScreen.BINDINGS)),
        ("Backend editor", described(EditorScreen.BINDINGS)),
        ("Questions", described(ConfirmScreen.BINDINGS)),
    ]


def help_table(app_bindings: Iterable[BindingType], readonly: bool = False) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2), expand=True)
    found = sections(app_bindings, readonly)
    # As wide as the longest heading, which is never cut.
    table.add_column(
        "key", style="bold cyan", width=max(16, *(len(t) for t, _ in found)), no_wrap=True
    )
    table.add_column("does")
    for title, bindings in found:
        table.add_row(Text(title, style="bold underline"), Text(""))
        for b in bindings:
            text = b.description
            if b.tooltip and b.tooltip != b.description:
                text = f"{b.description}: {b.tooltip}"
            table.add_row(Text(key_label(b.key)), Text(text))
        table.add_row("", "")
    return table


class RenderedOnce:
    """A Rich renderable drawn once per width and kept (the help's key table).

    Laying out a screen renders its content twice (to measure, then to draw)
    and Rich's Table is slow at it: ~100 ms for the help's 60 rows.  The
    lines are the same every time, so they are rendered once, and may be
    rendered ahead (`prepare`, from any thread) before the first `?`.
    """

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable
        self._lines: dict[int, list[list[Segment]]] = {}
        self._lock = threading.Lock()

    def lines(self, console: Console, width: int) -> list[list[Segment]]:
        with self._lock:
            found = self._lines.get(width)
            if found is None:
                options = console.options.update_width(width)
                found = console.render_lines(self.renderable, options, pad=False)
                self._lines[width] = found
            return found

    def prepare(self, width: int) -> None:
        self.lines(Console(width=width, force_terminal=True, color_system="truecolor"), width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(console, options.max_width):
            yield from line
            yield Segment.line()


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark", "dismiss(None)", "Close"),
        Binding("j", "scroll('down')", "Down", show=False),
        Binding("k", "scroll('up')", "Up", show=False),
    ]

    # An opaque background: a translucent one makes Textual re-render and
    # tint the whole dashboard under the help each time it opens or changes.
    DEFAULT_CSS = f"""
    HelpScreen {{ align: center middle; background: $background; }}
    HelpScreen VerticalScroll {{
        width: {BOX_WIDTH}; max-width: 100%; height: 90%; padding: 0 2;
        border: thick $primary; background: $surface;
        border-title-style: bold;
    }}
    """

    def __init__(self, app_bindings: Iterable[BindingType], readonly: bool = False) -> None:
        super().__init__()
        self.app_bindings = list(app_bindings)
        self.table = RenderedOnce(help_table(self.app_bindings, readonly))

    def prepare(self) -> None:
        """Render the key table ahead, at the widths it will have (any thread):
        the layout measures it first without the scrollbar, then with it."""
        for width in (TABLE_WIDTH + 2, TABLE_WIDTH):
            self.table.prepare(width)

    def compose(self) -> ComposeResult:
        scroll = VerticalScroll()
        scroll.border_title = "l4lb console — keys (Esc closes)"
        with scroll:
            yield Static(
                Text(
                    "q leaves the console; the balancer keeps running in the kernel.\n"
                    "Changes are hitless reloads of one service's backend list; u undoes.\n",
                    style="italic",
                )
            )
            yield Static(self.table)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def on_screen_resume(self) -> None:
        # The same screen is shown again each time: open it at the top.
        self.query_one(VerticalScroll).scroll_home(animate=False)

    def action_scroll(self, direction: str) -> None:
        scroll = self.query_one(VerticalScroll)
        if direction == "down":
            scroll.scroll_down()
        else:
            scroll.scroll_up()
