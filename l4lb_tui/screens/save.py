"""Ask where to save a service's backends as CSV (the seed's format)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from l4lb_tui import filewrite
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.inputs import PathSuggester


def save_default(folder: Path, ifname: str, key: object, loaded: Path | None) -> Path:
    """Where a save goes unless the operator says otherwise: named for the
    interface and service, and never the file that was loaded (saving over
    it is a choice, typed)."""
    slug = re.sub(r"[^0-9A-Za-z.]+", "-", str(key)).strip("-") or "catch-all"
    path = folder / f"{ifname}-{slug}.csv"
    if loaded is not None and path.expanduser().resolve() == loaded.expanduser().resolve():
        path = path.with_name(f"{path.stem}-saved.csv")
    return path


def save_heading(key: object, ifname: str, when: datetime) -> str:
    """The comment a saved file starts with: which service, where, when."""
    stamp = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"l4lb: the backends of service {key} on {ifname}, saved {stamp}"


def save_hint(path: Path, new: str) -> str:
    """What saving to `path` will do, as the writer does it (filewrite): a
    link is followed, anything but a regular file is refused; `new` for a
    file that does not exist yet."""
    problem = filewrite.save_note(path)
    if problem:
        return problem
    path = path.expanduser()
    if path.is_symlink():
        return f"a link to {path.resolve()}: that file is written, the link kept"
    if path.exists():
        return "exists: will be replaced (written to a temp file, then renamed)"
    return new


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
        text = save_hint(path, "new file; Enter saves, → completes the path, Esc cancels")
        self.query_one("#note", Static).update(Text(text))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(Path(event.value.strip()).expanduser())
