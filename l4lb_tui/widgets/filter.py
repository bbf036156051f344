"""The `/` filter line over a table (htop and k9s filter the same way)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.message import Message
from textual.widgets import Input


class FilterBox(Input):
    """Hidden until opened; Enter, or closing it, hands the keys back to the
    table it filters.  Posts `Filtered` as the operator types.

    Closed, it cannot take the focus: a screen focuses its first focusable
    widget as it starts, and keys typed then went into a hidden filter that
    silently hid rows.  A filter in force is always shown.
    """

    DEFAULT_CSS = """
    FilterBox { display: none; }
    FilterBox.-shown { display: block; }
    """

    @dataclass
    class Filtered(Message):
        text: str

    def __init__(self, placeholder: str, table: str) -> None:
        super().__init__(placeholder=placeholder, id="filter")
        self.table = table  # a selector of the table, on this screen
        self.can_focus = False

    @property
    def is_open(self) -> bool:
        return self.has_class("-shown")

    def open(self) -> None:
        self.add_class("-shown")
        self.can_focus = True
        self.focus()

    def close(self) -> None:
        """Empty and hide it: every row shows again."""
        self.value = ""
        self.remove_class("-shown")
        self.can_focus = False
        self._hand_back()

    def _hand_back(self) -> None:
        self.screen.query_one(self.table).focus()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        if event.value and not self.is_open:
            self.add_class("-shown")
            self.can_focus = True
        self.post_message(self.Filtered(event.value))

    @on(Input.Submitted)
    def _entered(self) -> None:
        self._hand_back()
