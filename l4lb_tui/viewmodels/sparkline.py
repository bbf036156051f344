"""Compact unicode sparklines: one table cell shows a backend's last minute."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from l4lb_tui.viewmodels.cells import Drawn

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int, span: int, top: float) -> str:
    """`values` oldest first; the newest sample is at the right edge.

    The line always covers `span` samples, so a backend that appeared a few
    seconds ago shows blanks on the left instead of a stretched curve.  All
    rows share one `top` so their heights compare (like the share column).
    It runs for every row every second: plain loops, no slicing.
    """
    recent = list(values)[-span:]
    per = max(1, -(-span // width))  # ceil: samples per character
    missing = per * width - len(recent)  # leading slots with no sample yet
    levels = len(BLOCKS)
    scale = levels / top if top > 0 else 0.0
    chars = []
    for start in range(-missing, per * width - missing, per):
        lo, hi = max(0, start), start + per
        if hi <= 0:
            chars.append(" ")
            continue
        mean = sum(recent[lo:hi]) / (hi - lo)
        chars.append(BLOCKS[min(levels - 1, max(0, int(mean * scale)))])
    return "".join(chars)


@dataclass(frozen=True, slots=True)
class Sparkline(Drawn):
    """A backend's sparkline as a table cell, drawn when its row is shown."""

    values: tuple[float, ...]
    width: int
    span: int
    top: float

    def draw(self) -> str:
        return sparkline(self.values, self.width, self.span, self.top)
