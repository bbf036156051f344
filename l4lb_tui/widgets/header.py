"""The dashboard's header: where, how, how much, what was passed or dropped,
and how the flow table is doing."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from l4lb_tui.rates import fmt_int, fmt_si, share
from l4lb_tui.stats import StatsView
from l4lb_tui.viewmodels import flow_table
from l4lb_tui.viewmodels.backend_rows import NO_RATE, ServiceScope
from l4lb_tui.viewmodels.cells import printable

MODE_STYLE = {"driver": "bold green", "generic": "bold yellow", "offload": "bold cyan"}


def _counts(title: str, counts: dict[str, int], style: str) -> Text:
    line = Text(f"{title:<8}", style=style)
    for name, value in counts.items():
        line.append(f" {name.split('_', 1)[1]} ", style="dim")
        line.append(fmt_int(value))
    return line


def _outcomes(title: str, flows: dict[str, int]) -> Text:
    line = Text(f"{title:<8}", style="cyan")
    for name, value in flows.items():
        line.append(f" {name} ", style="dim")
        line.append(fmt_int(value))
    looked_up = sum(flows.values())
    if looked_up:
        line.append(f" ({share(flows.get('hit', 0), looked_up) * 100:.1f}% hits)", style="dim")
    return line


def _flows(view: StatsView, width: int) -> list[Text]:
    """Flow-table outcomes per packet (hit, new, stale, stored, untracked,
    reused), IPv6's apart once it has any, the tables' occupancy, then ICMP;
    a line breaks between those parts, never inside one's figures (`v6`
    stays with its numbers)."""
    parts = [_outcomes("flows", view.flows)]
    if any(view.flows6.values()):
        parts.append(_outcomes("flows v6", view.flows6))
    icmp = Text("icmp", style="cyan")
    for name, value in view.other.items():
        icmp.append(f" {name.removeprefix('icmp_').replace('_', '-')} ", style="dim")
        icmp.append(fmt_int(value))
    return flow_table.packed([*parts, *flow_table.tables(view), icmp], width)


SUFFIXES = 40  # kept free on the top line for catch-all, PAUSED or STALE


def services_text(services: Sequence[str], room: int) -> str:
    """The services, as many as fit in `room` cells, then "+N more".

    A list of 150 services once took every line of an 80x24 terminal and
    left the backend table none; `v` lists them one at a time anyway.
    """
    if not services:
        return "none"
    text = ""
    for n, name in enumerate(services):
        more = len(services) - n - 1
        tail = f", +{more} more" if more else ""
        candidate = f"{text}, {name}" if text else name
        if len(candidate) + len(tail) > room and text:
            return f"{text}, +{len(services) - n} more"
        text = candidate
    return text


def _services(top: Text, view: StatsView, scope: ServiceScope | None, width: int) -> None:
    shown = scope.current if scope else None
    if shown is None:
        top.append("  services ", style="dim")
        hint = "  (v: one at a time)" if len(view.services) > 1 else ""
        # Two screen lines at most for the top line, whatever the count.
        room = 2 * width - top.cell_len - len(hint) - SUFFIXES
        top.append(services_text(view.services, max(room, 20)))
        top.append(hint, style="dim")
        return
    top.append(f"  service {scope.position(view.services) if scope else ''}: ", style="dim")
    top.append(shown, style="bold reverse")
    top.append("  (v: next, then all)", style="dim")


def _scoped_total(view: StatsView, shown: str, rated: bool) -> Text:
    rows = [r for r in view.rows if r.service == shown]
    pps, bps = sum(r.rate.pps for r in rows), sum(r.rate.bps for r in rows)
    line = Text(f"   this service {_num(pps, rated)} pkts/s  {_num(bps, rated)} bits/s")
    line.stylize("bold")
    line.append(f"   {len(rows):,} backends", style="dim")
    return line


def _num(value: float, rated: bool) -> str:
    return fmt_int(value) if rated else NO_RATE


def _total(view: StatsView, scope: ServiceScope | None, rated: bool) -> Text:
    total = Text("total   ", style="bold")
    total.append(f"{_num(view.total.pps, rated)} pkts/s  ", style="bold")
    total.append(f"{_num(view.total.bps, rated)} bits/s ", style="bold")
    if rated:
        total.append(f"({fmt_si(view.total.bps, 'bit/s')})", style="dim")
    total.append(f"   {len(view.rows):,} backends", style="dim")
    if scope and scope.current is not None:
        total.append_text(_scoped_total(view, scope.current, rated))
    return total


def _summary(view: StatsView, width: int) -> list[Text]:
    """passed, dropped, flows and the tables' shares on one line: for short
    terminals.  The flows are both families' (an IPv6-only balancer under
    load read "flows 0", t20 LOW-4)."""
    line = Text(f"{'passed':<8}", style="green")
    line.append(fmt_int(sum(view.passed.values())))
    line.append("  dropped ", style="red")
    line.append(fmt_int(sum(view.dropped.values())))
    looked_up = sum(view.flows.values()) + sum(view.flows6.values())
    line.append("  flows ", style="cyan")
    line.append(fmt_int(looked_up))
    if looked_up:
        hit = view.flows.get("hit", 0) + view.flows6.get("hit", 0)
        hits = share(hit, looked_up) * 100
        line.append(f" ({hits:.1f}% hits)", style="dim")
    return flow_table.packed([line, *flow_table.tables(view, compact=True)], width, "  ")


class DashboardHeader(Static):
    DEFAULT_CSS = """
    DashboardHeader { height: auto; padding: 0 1; background: $boost; }
    """

    _height: tuple[int, ...] = ()  # screen lines each text line took last time

    def show_view(
        self,
        ifname: str,
        view: StatsView | None,
        paused: bool,
        stale: bool = False,
        scope: ServiceScope | None = None,
        *,
        reading: bool = False,
        rated: bool = True,
        compact: bool = False,
        attachable: bool = True,
    ) -> None:
        """`reading`: no poll has answered yet; `rated`: the rates are known;
        `compact`: passed, dropped and flows on one line; not `attachable`:
        no balancer can run on the link (lo)."""
        top = Text(printable(ifname), style="bold")
        if reading:
            top.append("  reading…", style="bold")
            lines = [top]
        elif view is None:
            top.append("  ○ no balancer", style="bold red")
            if attachable:
                top.append("  press m to attach one, l to load destinations after", style="dim")
            else:  # lo: nothing to press m for
                top.append("  no Ethernet address: the balancer cannot run here", style="dim")
            lines = [top]
        else:
            lines = self._balancer_lines(top, view, stale, scope, rated, compact)
        if paused:
            lines[0].append("   ⏸ PAUSED (p resumes)", style="bold reverse yellow")
        if stale:
            # The last poll failed: these figures are old, say so where they are.
            lines[0].append("   STALE: the last poll failed", style="bold reverse red")
        # A layout pass re-arranges the whole screen (footer keys and all):
        # only ask for one when the header's height can have changed.
        width = self.content_size.width
        height = tuple(-(-line.cell_len // width) if width else -1 for line in lines)
        self.update(Text("\n").join(lines), layout=height != self._height)
        self._height = height

    def _balancer_lines(
        self,
        top: Text,
        view: StatsView,
        stale: bool,
        scope: ServiceScope | None,
        rated: bool,
        compact: bool,
    ) -> list[Text]:
        """The header of a balancer that a poll has read."""
        # Stale (the interface gone, say): what it was, not a running
        # dot, and no rate as if it still moved packets.
        mark = "●" if view.mode and not stale else "○"
        style = "dim" if stale else MODE_STYLE.get(view.mode, "bold red")
        top.append(f"  {mark} {view.mode_label}", style=style)
        top.append(f"  program {view.prog_id}" + (" (last seen)" if stale else ""), style="dim")
        _services(top, view, scope, self.content_size.width or 78)
        if view.catch_all:
            top.append("  catch-all: ALL TCP/UDP is balanced", style="bold yellow")
        total = _total(view, scope, rated and not stale)
        width = self.content_size.width
        if compact:
            lines = [top, total, *_summary(view, width)]
        else:
            lines = [
                top,
                total,
                _counts("passed", view.passed, "green"),
                _counts("dropped", view.dropped, "red"),
                *_flows(view, width),
            ]
        said = flow_table.warning(view)
        if said is not None:
            lines.append(said)
        return lines

    @property
    def lines(self) -> int:
        """How many screen lines it takes (as of the last show)."""
        return sum(self._height) if all(h > 0 for h in self._height) else 0
