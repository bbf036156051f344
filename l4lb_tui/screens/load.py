"""Pick a destinations CSV, preview it, then apply it or cancel.

Nothing reaches the balancer before Apply, and Apply stays disabled while the
file has any error: an invalid file changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DirectoryTree, Input, Label, Static

from l4lb_tui.abi import ServiceKey
from l4lb_tui.console_files import Preview, preview_csv
from l4lb_tui.destinations import Destination
from l4lb_tui.services import parse_service_specs
from l4lb_tui.viewmodels.editor_form import service_spec_note
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.inputs import PathSuggester, services_validator
from l4lb_tui.widgets.tables import KeyTable, num

PREVIEW_ROWS = 200  # enough to eyeball; the count line gives the total
# Below this width the tree (42) and the form (its labels, buttons and the
# preview's four columns want 58) do not fit side by side: one at a time.
NARROW = 100


@dataclass(frozen=True)
class LoadRequest:
    path: Path
    services: tuple[ServiceKey, ...]
    dests: tuple[Destination, ...]


class PreviewTable(KeyTable):
    """Destinations when the file is good, its errors (with line numbers) when not."""

    def show(self, preview: Preview | None) -> None:
        self.clear(columns=True)
        result = preview.result if preview else None
        if result is None:
            return
        if result.errors:
            # A problem wraps to the table's width: its end (what to do) is
            # the part an operator needs (80 columns cut it).
            wide = self.scrollable_content_region.width or self.size.width
            self.add_column("Line", key="line", width=6)
            self.add_column("Problem", key="problem", width=max(30, min(90, wide - 10)))
            for err in result.errors[:PREVIEW_ROWS]:
                self.add_row(num(str(err.line)), Text(err.message, style="red"), height=None)
            if (more := len(result.errors) - PREVIEW_ROWS) > 0:
                self.add_row(Text(""), Text(f"... and {more:,} more errors", style="red"))
            return
        # The file's own line numbers, as `l4lb check` and an error name them.
        self.add_column("Line", key="n", width=5)
        self.add_column("IP", key="ip", width=15)
        self.add_column("MAC", key="mac", width=17)
        self.add_column("Weight", key="weight", width=11)  # "65535 drain"
        rows = zip(result.lines, result.destinations[:PREVIEW_ROWS], strict=False)
        for line, d in rows:
            # The last look before a change: a drained line loads drained.
            weight = Text(f"{d.weight} drain", style="yellow") if d.drained else Text(str(d.weight))
            weight.justify = "right"
            self.add_row(num(str(line)), Text(d.ip), Text(d.mac), weight)


class CsvTree(DirectoryTree):
    """Only directories and CSV-ish files: fewer wrong picks."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            p
            for p in paths
            if not p.name.startswith(".") and (p.is_dir() or p.suffix in {".csv", ".txt", ""})
        ]


class LoadScreen(Screen[LoadRequest | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", tooltip="leave without loading anything"),
        Binding("ctrl+s", "apply", "Apply", tooltip="load the previewed file into the services"),
        # On a narrow terminal ctrl+t goes back and forth between tree and form.
        Binding("ctrl+t", "focus_tree", "Files", tooltip="browse files"),
    ]

    DEFAULT_CSS = """
    LoadScreen #title { height: 1; padding: 0 1; background: $primary; }
    LoadScreen #body { height: 1fr; }
    LoadScreen CsvTree { width: 42; border: round $primary-darken-2; }
    LoadScreen #right { padding: 0 1; }
    LoadScreen #summary { height: auto; margin: 1 0 0 0; text-style: bold; }
    LoadScreen #summary.-bad { color: $error; }
    LoadScreen #summary.-good { color: $success; }
    LoadScreen #services-note { height: auto; color: $warning; }
    LoadScreen PreviewTable { height: 1fr; }
    LoadScreen #buttons { height: auto; align-horizontal: right; }
    LoadScreen Button { margin-left: 2; }
    LoadScreen.-narrow CsvTree { display: none; }
    LoadScreen.-narrow.-browsing CsvTree { display: block; width: 1fr; }
    LoadScreen.-narrow.-browsing #right { display: none; }
    """

    @dataclass
    class Previewed(Message):
        preview: Preview

    def __init__(
        self,
        ifname: str,
        start: Path,
        services_spec: str = "",
        own: Callable[[str], str | None] | None = None,
    ) -> None:
        """`own`: why an address cannot be a backend here (the balancer's
        own addresses), or None; the preview lists such lines as errors."""
        super().__init__()
        self.ifname = ifname
        self.own = own
        self.start = start
        self.services_spec = services_spec
        self.preview: Preview | None = None
        self._apply_when_read = False  # ctrl+s asked before the preview came

    def compose(self) -> ComposeResult:
        folder = self.start if self.start.is_dir() else self.start.parent
        path = "" if self.start.is_dir() else str(self.start)
        yield Static(Text(f"Load destinations into {self.ifname}"), id="title")
        with Horizontal(id="body"):
            yield CsvTree(folder)
            with Vertical(id="right"):
                yield Label(
                    "CSV file (IP, MAC[, WEIGHT]) — → completes, Enter previews", markup=False
                )
                yield Input(path, placeholder=f"{folder}/…", suggester=PathSuggester(), id="path")
                yield Label("Services (VIP[:PORT][/tcp|udp], several with commas)", markup=False)
                yield Input(self.services_spec, validators=[services_validator()], id="services")
                yield Static(id="services-note")
                yield Static("pick a file to preview it", id="summary")
                yield PreviewTable(id="preview")
                with Horizontal(id="buttons"):
                    yield Button("Apply (ctrl+s)", variant="primary", id="apply", disabled=True)
                    yield Button("Cancel (Esc)", id="cancel")
        yield KeyFooter()

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")

    def on_mount(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")
        self._services_note(self.services_spec)
        box = self.query_one("#path", Input)
        box.focus()
        if box.value:
            self._read(Path(box.value))

    # -- file and preview ------------------------------------------------------------

    @on(DirectoryTree.FileSelected)
    def _file_picked(self, event: DirectoryTree.FileSelected) -> None:
        self.query_one("#path", Input).value = str(event.path)
        self._read(event.path)
        if self.has_class("-browsing"):  # narrow: back to the form, to its preview
            self.action_focus_tree()

    @on(Input.Submitted, "#path")
    def _path_entered(self, event: Input.Submitted) -> None:
        self._open(event.value)

    def _open(self, typed: str) -> None:
        """A folder typed opens in the tree; a file is previewed."""
        path = Path(typed.strip()).expanduser()
        if path.is_dir():
            self.query_one(CsvTree).path = path
            if self.has_class("-narrow"):
                self.action_focus_tree()  # a folder is shown in the tree: show it
            return
        self._read(path)

    @on(Input.Blurred, "#path")
    def _path_left(self, event: Input.Blurred) -> None:
        # Tab out of a typed path previews it, as Enter does.
        if self.preview is None and event.value.strip():
            self._open(event.value)

    @on(Input.Changed, "#path")
    def _path_changed(self) -> None:
        # Whatever was previewed no longer matches the path shown.
        self.preview = None
        self._apply_when_read = False
        self._update_apply()

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview")
    def _read(self, path: Path) -> None:
        self.post_message(self.Previewed(preview_csv(path)))

    @on(Previewed)
    def _previewed(self, message: Previewed) -> None:
        if Path(self.query_one("#path", Input).value.strip()).expanduser() != message.preview.path:
            return  # the operator picked another file meanwhile
        self.preview = message.preview
        self._check_preview()
        self._services_note(self.query_one("#services", Input).value)
        self._update_apply()
        if self._apply_when_read:  # ctrl+s came before the preview
            self._apply_when_read = False
            self.action_apply()

    def _check_preview(self) -> None:
        """The previewed file checked for the services typed (every line's
        error, as `l4lb check --vip` lists them), and shown."""
        if self.preview is None:
            return
        keys = self._services() or []
        self.preview = self.preview.against([k.vip for k in keys], len(keys), self.own)
        summary = self.query_one("#summary", Static)
        summary.update(Text(f"{self.preview.path.name}: {self.preview.summary}"))
        summary.set_class(not self.preview.ok, "-bad")
        summary.set_class(self.preview.ok, "-good")
        self.query_one(PreviewTable).show(self.preview)

    # -- services ------------------------------------------------------------------

    def _services(self) -> list[ServiceKey] | None:
        try:
            return parse_service_specs(self.query_one("#services", Input).value)
        except ValueError:
            return None

    def _services_note(self, spec: str) -> None:
        note = service_spec_note(spec, "other services stay as they are")
        self.query_one("#services-note", Static).update(note)

    @on(Input.Changed, "#services")
    def _services_changed(self, event: Input.Changed) -> None:
        self._check_preview()  # another VIP, another family: other lines wrong
        self._services_note(event.value)
        self._update_apply()

    @on(Input.Submitted, "#services")
    def _services_entered(self) -> None:
        self.action_apply()

    # -- apply / cancel --------------------------------------------------------------

    def _ready(self) -> LoadRequest | None:
        keys = self._services()
        if self.preview is None or not self.preview.ok or self.preview.result is None or not keys:
            return None
        return LoadRequest(self.preview.path, tuple(keys), self.preview.result.destinations)

    def _update_apply(self) -> None:
        self.query_one("#apply", Button).disabled = self._ready() is None

    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        request = self._ready()
        typed = self.query_one("#path", Input).value.strip()
        if request is None and self.preview is None and typed:
            # A path typed but not previewed yet: preview it, then apply.
            self._apply_when_read = True
            self._read(Path(typed).expanduser())
            return
        if request is None:
            problem = self.preview.summary if self.preview and not self.preview.ok else None
            self.notify(
                problem or "nothing to apply: pick a file without errors",
                severity="warning",
                markup=False,
            )
            return
        self.dismiss(request)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_focus_tree(self) -> None:
        """To the tree; on a narrow terminal, where the tree and the form
        take turns, to the other one of them."""
        if self.has_class("-narrow"):
            browsing = not self.has_class("-browsing")
            self.set_class(browsing, "-browsing")
            if not browsing:
                self.query_one("#path", Input).focus()
                return
        self.query_one(CsvTree).focus()
