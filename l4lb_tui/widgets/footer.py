"""The key footer: the keys of its screen that fit, and a way to the rest.

One line of text, not Textual's Footer: that one mounts a widget a key and
recomposes them all whenever its screen's bindings may have changed (every
modal opening or closing), and a line too narrow for its keys just stops,
silently.  Here the keys that do not fit are replaced by "… ? all keys", so
an operator on an 80-column terminal knows there are more.  Every modal
composes one too: the keys shown are always those that act.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

KeyLine = tuple[tuple[str, str], ...]  # (key as shown, description)
MORE = "… ? all keys"


def fit_keys(keys: KeyLine, width: int, tail: str = "") -> Text:
    """As many keys as fit `width` with `tail` (the palette's key) at the end."""
    line = Text()
    room = width - len(tail)
    for n, (key, description) in enumerate(keys):
        part = Text.assemble((f" {key}", "bold"), f" {description} ")
        last = n == len(keys) - 1
        if line.cell_len + part.cell_len + (0 if last else len(MORE) + 1) > room:
            line.append(f" {MORE}", style="bold")
            break
        line.append_text(part)
    if tail:
        line.append(" " * max(1, width - line.cell_len - len(tail)))
        line.append(tail, style="dim")
    return line


class KeyFooter(Static):
    DEFAULT_CSS = """
    KeyFooter { dock: bottom; height: 1; background: $footer-background; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._keys: KeyLine = ()

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def on_resize(self) -> None:
        self._draw()

    def bindings_changed(self, screen: Screen[object]) -> None:
        app = screen.app
        # The screen's own keys first, those it inherits (the dashboard's
        # sort, events, redo) after: a narrow footer keeps the everyday ones.
        own = {b.action for b in type(screen).BINDINGS if isinstance(b, Binding)}
        found: dict[str, tuple[bool, str]] = {}  # description -> (inherited, key)
        for _node, binding, enabled, _tooltip in screen.active_bindings.values():
            if binding.show and enabled and binding.description:
                shown = (binding.action not in own, app.get_key_display(binding))
                found.setdefault(binding.description, shown)
        ordered = sorted(found.items(), key=lambda item: item[1][0])  # stable
        keys = tuple((key, description) for description, (_, key) in ordered)
        if keys != self._keys:
            self._keys = keys
            self._draw()

    def _draw(self) -> None:
        width = self.size.width
        if width:
            # One line, docked: its text never changes the layout (a layout
            # pass would re-arrange the whole screen, with the key waiting).
            self.update(fit_keys(self._keys, width, "^p palette"), layout=False)

    @property
    def shown(self) -> str:
        """The footer's text as on screen (tests)."""
        return fit_keys(self._keys, self.size.width or 80, "^p palette").plain
