"""The key footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer

KeyLine = tuple[tuple[str, str, bool, str], ...]


class KeyFooter(Footer):
    """Textual's Footer recomposes all its keys whenever its screen's bindings
    *may* have changed, which includes every modal opening or closing over
    the screen (~15 widgets mounted and styled while the key waits).  The
    dashboard's keys are the same before and after, so skip those."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: KeyLine | None = None

    def _key_line(self, screen: Screen[object]) -> KeyLine:
        return tuple(
            (binding.key, binding.description, enabled, tooltip)
            for _node, binding, enabled, tooltip in screen.active_bindings.values()
            if binding.show
        )

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            keys = self._key_line(screen)
            if keys == self._keys:
                return
            self._keys = keys
        super().bindings_changed(screen)
