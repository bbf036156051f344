"""The flow table in the console's header: how full it is, and the warning
when flows are losing their affinity (pure: from a StatsView)."""

from __future__ import annotations

from rich.text import Text

from l4lb_tui.stats import StatsView, occupancy_text


def occupancy(view: StatsView) -> Text | None:
    """` table ~1,234 of 4,194,304 (0.0%, 4M)`, to follow the flow outcomes;
    None without a flow table."""
    if view.occupancy is None:
        return None
    line = Text("   table ", style="cyan")
    line.append(occupancy_text(view.occupancy))
    occ6 = view.occupancy6
    # IPv6's beside it once it is in use (a v4-only balancer's header stays).
    if occ6 is not None and (occ6.entries or view.untracked_pps6 or any(view.flows6.values())):
        line.append("  v6 ", style="cyan")
        line.append(occupancy_text(occ6))
    return line


def warning(view: StatsView) -> Text | None:
    """One line, loud, while affinity is being lost (or about to be)."""
    if not view.warning:
        return None
    return Text(f"⚠ {view.warning}", style="bold reverse yellow")
