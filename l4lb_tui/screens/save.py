"""Ask where to save a service's backends as CSV (the seed's format)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.inputs import PathSuggester


class SaveScreen(ModalScreen[Path | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
    ]

    DEFAULT_CSS = """
    SaveScreen { align: center middle; }
    SaveScreen > Vertical {
        width: 90; max-width: 100%; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    SaveScreen #note { color: $text-muted; height: auto; }
    """

    def __init__(self, what: str, count: int, default: Path) -> None:
        super().__init__()
        self.what = what
        self.count = count
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"Save the {self.count:,} backends of {self.what} as CSV", style="bold")
            )
            yield Input(str(self.default), suggester=PathSuggester(), id="path")
            yield Static(id="note")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._note(self.default)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._note(Path(event.value).expanduser())

    def _note(self, path: Path) -> None:
        if path.is_dir():
            text = "that is a directory: add a file name"
        elif path.exists():
            text = "exists: will be replaced (written to a temp file, then renamed)"
        else:
            text = "new file; Enter saves, → completes the path, Esc cancels"
        self.query_one("#note", Static).update(Text(text))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(Path(event.value.strip()).expanduser())
