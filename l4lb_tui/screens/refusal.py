"""The whole text of a refusal whose toast showed its first line (`i`)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from l4lb_tui.widgets.footer import KeyFooter

WIDEST = 240  # a toast's worth: the rest is one key away


def first_line(message: str) -> tuple[str, bool]:
    """The message's first line, cut to a toast's width, and whether there
    is more of it (libbpf's output under a refusal runs to many lines)."""
    lines = message.strip().splitlines() or [""]
    first = lines[0]
    if len(first) > WIDEST:
        first = first[: WIDEST - 1] + "…"
    return first, len(lines) > 1 or first != lines[0]


class RefusalScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,i,q", "dismiss(None)", "Close"),
    ]

    DEFAULT_CSS = """
    RefusalScreen { align: center middle; }
    RefusalScreen VerticalScroll {
        width: 110; max-width: 100%; height: auto; max-height: 80%; padding: 1 2;
        border: thick $error; background: $surface;
    }
    """

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = self.title_text
            yield Static(Text(self.text), id="details")
        yield KeyFooter()
