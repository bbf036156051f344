"""The status line: warnings that persist while they hold (notifications fade)."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine {
        height: auto;
        max-height: 3;
        padding: 0 1;
        background: $warning 20%;
        color: $text;
    }
    StatusLine.-empty { display: none; }
    StatusLine.-error { background: $error 30%; }
    """

    messages: reactive[tuple[str, ...]] = reactive(())
    is_error: reactive[bool] = reactive(False)

    def watch_messages(self, messages: tuple[str, ...]) -> None:
        self.set_class(not messages, "-empty")
        self.update(Text("\n".join(f"⚠ {m}" for m in messages)))

    def watch_is_error(self, is_error: bool) -> None:
        self.set_class(is_error, "-error")

    def show(self, messages: tuple[str, ...] | list[str], error: bool = False) -> None:
        self.messages = tuple(messages)
        self.is_error = error
