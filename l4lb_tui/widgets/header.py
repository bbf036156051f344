"""The dashboard's header: where, how, how much, and what was passed or dropped."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from l4lb_tui.rates import fmt_int, fmt_si
from l4lb_tui.stats import StatsView

MODE_STYLE = {"driver": "bold green", "generic": "bold yellow", "offload": "bold cyan"}


def _counts(title: str, counts: dict[str, int], style: str) -> Text:
    line = Text(f"{title:<8}", style=style)
    for name, value in counts.items():
        line.append(f" {name.split('_', 1)[1]} ", style="dim")
        line.append(fmt_int(value))
    return line


class DashboardHeader(Static):
    DEFAULT_CSS = """
    DashboardHeader { height: 4; padding: 0 1; background: $boost; }
    """

    def show_view(
        self, ifname: str, view: StatsView | None, paused: bool, stale: bool = False
    ) -> None:
        top = Text(ifname, style="bold")
        if view is None:
            top.append("  ○ no balancer", style="bold red")
            top.append("  press m to attach one, l to load destinations after", style="dim")
            lines = [top]
        else:
            mark = "●" if view.mode else "○"
            top.append(f"  {mark} {view.mode_label}", style=MODE_STYLE.get(view.mode, "bold red"))
            top.append(f"  program {view.prog_id}", style="dim")
            top.append("  services ", style="dim")
            top.append(", ".join(view.services) or "none")
            if view.catch_all:
                top.append("  catch-all: ALL TCP/UDP is balanced", style="bold yellow")
            total = Text("total   ", style="bold")
            total.append(f"{fmt_int(view.total.pps)} pkts/s  ", style="bold")
            total.append(f"{fmt_int(view.total.bps)} bits/s ", style="bold")
            total.append(f"({fmt_si(view.total.bps, 'bit/s')})", style="dim")
            total.append(f"   {len(view.rows):,} backends", style="dim")
            lines = [
                top,
                total,
                _counts("passed", view.passed, "green"),
                _counts("dropped", view.dropped, "red"),
            ]
        if paused:
            lines[0].append("   ⏸ PAUSED (p resumes)", style="bold reverse yellow")
        if stale:
            # The last poll failed: these figures are old, say so where they are.
            lines[0].append("   STALE: the last poll failed", style="bold reverse red")
        self.update(Text("\n").join(lines))
