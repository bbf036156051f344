"""A table cell as the view-models hand it to the console's tables."""

from __future__ import annotations

from rich.text import Text


class Drawn:
    """A cell worked out only when a table shows it: the poll's thread hands
    every row over, but only the few on screen are drawn (a sparkline of
    every one of 4,096 backends every second cost more than all the rest of
    the poll).  Immutable, and equal when what it would draw is."""

    __slots__ = ()

    def draw(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.draw()


def printable(text: str) -> str:
    """`text` with its control characters written out (ESC as \\x1b), as
    `ip -d link` does: Linux allows them in a link's name, and whoever names
    links in a namespace (a container's root) could otherwise clear or
    recolour the operator's terminal through the console."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


# A plain string takes its column's style; a Text (rare: a warning colour)
# is shown as it is.  Strings are never read as markup.
Cell = str | Text | Drawn
