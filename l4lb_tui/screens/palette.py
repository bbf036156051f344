"""The command palette's provider: every action of the screen it opened on.

Commands come from the screens' own BINDINGS (plus a few parameterised ones a
screen adds), so a new key is in the palette without anyone listing it twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.screen import Screen


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    name: str
    help: str
    action: str  # run on the screen the palette was opened from ("app." reaches the app)
    key: str = ""  # the key that does it too, shown beside the name


def from_bindings(bindings: Iterable[BindingType], prefix: str = "") -> list[PaletteCommand]:
    found = []
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description and binding.show:
            help_text = binding.tooltip or binding.description
            key = binding.key.split(",")[0]
            found.append(
                PaletteCommand(binding.description, help_text, prefix + binding.action, key)
            )
    return found


APP_COMMANDS = (
    PaletteCommand("Help", "list every key of the console", "app.help", "?"),
    PaletteCommand("Quit", "leave the console; the balancer keeps running", "app.quit", "q"),
    PaletteCommand("Nodes", "the scale-out nodes: BGP, ring prints, drain", "app.nodes", "N"),
)


class ConsoleCommands(Provider):
    def _listing(self) -> list[PaletteCommand]:
        screen = self.screen
        own = getattr(screen, "palette_commands", None)
        listed = list(own()) if callable(own) else []
        names = {c.name for c in listed}
        return listed + [c for c in APP_COMMANDS if c.name not in names]

    async def _run(self, target: Screen[object], action: str) -> None:
        await target.run_action(action)

    async def discover(self) -> Hits:
        for cmd in self._listing():
            run = partial(self._run, self.screen, cmd.action)
            yield DiscoveryHit(_shown(cmd, Content(cmd.name)), run, text=cmd.name, help=cmd.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for cmd in self._listing():
            score = matcher.match(f"{cmd.name} {cmd.help}")
            if score > 0:
                yield Hit(
                    score,
                    _shown(cmd, matcher.highlight(cmd.name)),
                    partial(self._run, self.screen, cmd.action),
                    text=cmd.name,
                    help=cmd.help,
                )


# Keys as an operator types them, not as Textual names them (help and palette).
KEY_NAMES = {
    "escape": "Esc",
    "enter": "Enter",
    "slash": "/",
    "question_mark": "?",
    "greater_than_sign": ">",
    "less_than_sign": "<",
    "plus": "+",
    "minus": "-",
    "up": "↑",
    "down": "↓",
    "right": "→",
    "pageup": "PgUp",
    "pagedown": "PgDn",
}


def shown_key(key: str) -> str:
    return KEY_NAMES.get(key, key)


def _shown(cmd: PaletteCommand, name: Content) -> Content:
    """The name, then its key (`a`, `ctrl+s`): the palette teaches the keys."""
    if not cmd.key:
        return name
    return Content.assemble(name, ("  " + shown_key(cmd.key), "bold $accent"))
