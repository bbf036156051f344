"""The flow table in the console's header: how full it is, and the warning
when flows are losing their affinity (pure: from a StatsView)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from l4lb_tui.model import FlowOccupancy
from l4lb_tui.stats import StatsView, occupancy_text


def occupancy(view: StatsView) -> Text | None:
    """`   table ~1,234 of 4,194,304 (0.0%, 4M)`, to follow the flow outcomes
    (and `  v6 ...` once the IPv6 table is in use); None without a flow table."""
    parts = tables(view)
    if not parts:
        return None
    line = Text("   ")
    return line.append_text(Text("  ").join(parts))


def tables(view: StatsView, compact: bool = False) -> list[Text]:
    """`table ~1,234 of 4,194,304 (0.0%, 4M)`, then `v6 ...` once the IPv6
    table is in use (a v4-only balancer's header stays as it was), each a
    piece a line is not broken inside; `compact`: the share alone
    (`table 59.8%`), for short terminals.  None shown without a flow table."""
    if view.occupancy is None:
        return []
    parts = [_table("table ", view.occupancy, compact)]
    occ6 = view.occupancy6
    if occ6 is not None and (occ6.entries or view.untracked_pps6 or any(view.flows6.values())):
        parts.append(_table("v6 ", occ6, compact))
    return parts


def _table(label: str, occ: FlowOccupancy, compact: bool) -> Text:
    line = Text(label, style="cyan")
    about = "~" if occ.sampled else ""
    return line.append(f"{about}{100 * occ.share:.1f}%" if compact else occupancy_text(occ))


def packed(parts: Sequence[Text], width: int, gap: str = "   ") -> list[Text]:
    """`parts` on as few lines of `width` cells as they fit, `gap` between
    two on one line: a line breaks only between parts (a part longer than
    the width alone on its lines); width 0: one line."""
    lines: list[Text] = []
    for part in parts:
        if lines and (not width or lines[-1].cell_len + len(gap) + part.cell_len <= width):
            lines[-1].append(gap)
            lines[-1].append_text(part)
        else:
            lines.append(part.copy())
    return lines


def warning(view: StatsView) -> Text | None:
    """A line, loud, while affinity is being lost (or about to be): in a
    few words (`l4lb stats` says it whole)."""
    said = view.brief or view.warning
    if not said:
        return None
    return Text(f"⚠ affinity at risk: {said}", style="bold reverse yellow")
