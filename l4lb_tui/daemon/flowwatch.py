"""The daemon's watch on each balancer's flow table: one journal and
event-log line when flows start losing their affinity (the table full,
flows balanced by the ring alone), and one when that stops.  The wording
is the `stats` warning's, so both say the same numbers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from l4lb_tui import events
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.bpftool import BpfError
from l4lb_tui.model import Counters
from l4lb_tui.netlink import NetlinkError
from l4lb_tui.stats import build_view

EVERY = 10.0  # seconds between looks: a rate over a span, not one packet


def change_line(where: str, before: str | None, now: str | None, table: str) -> str | None:
    """What to say when a balancer's warning comes or goes (None: no change;
    while it lasts it is said once, not on every look)."""
    if now is not None and before is None:
        return f"{where}: affinity at risk: {now}"
    if now is None and before is not None:
        return f"{where}: flow table recovered, no flow losing its affinity: {table}"
    return None


@dataclass
class FlowWatch:
    report: Callable[[str], None]
    every: float = EVERY
    _prev: dict[str, Counters] = field(default_factory=dict)
    _said: dict[str, str] = field(default_factory=dict)
    _at: float = float("-inf")

    def tick(self, balancers: Iterable[tuple[str, Balancer]]) -> None:
        """Look again if `every` seconds have passed; say what changed."""
        now = time.monotonic()
        if now - self._at < self.every:
            return
        self._at = now
        for where, bal in balancers:
            try:
                self._look(where, bal)
            except (BalancerError, BpfError, NetlinkError, OSError):
                self._prev.pop(where, None)  # detached or gone: the reload says so

    def _look(self, where: str, bal: Balancer) -> None:
        if not bal.is_loaded():
            self._prev.pop(where, None)
            return
        cur = bal.counters()
        prev, self._prev[where] = self._prev.get(where), cur
        if prev is not None:
            warning = build_view(bal.state(), prev, cur).warning
            self._say(where, warning, cur)

    def _say(self, where: str, warning: str | None, cur: Counters) -> None:
        occ = cur.occupancy
        table = f"{occ.entries:,} of {occ.capacity:,} entries" if occ else "size unknown"
        line = change_line(where, self._said.get(where), warning, table)
        if warning is None:
            self._said.pop(where, None)
        else:
            self._said[where] = warning
        if line is not None:
            self.report(f"flows: {line}")
            events.note("daemon", f"flows: {line}")
