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


# A plain string takes its column's style; a Text (rare: a warning colour)
# is shown as it is.  Strings are never read as markup.
Cell = str | Text | Drawn
