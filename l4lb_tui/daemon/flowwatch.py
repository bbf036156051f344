"""The daemon's watch on each balancer's flow tables: one journal and
event-log line when flows start losing their affinity (a table full, flows
balanced by the ring alone), and one when that stops, for IPv4's and
IPv6's table each on its own, with that table's figures.  The wording is
the `stats` warning's, so both say the same numbers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from l4lb_tui import events
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.bpftool import BpfError
from l4lb_tui.model import Counters, FlowOccupancy
from l4lb_tui.netlink import NetlinkError
from l4lb_tui.stats import table_warnings

EVERY = 10.0  # seconds between looks: a rate over a span, not one packet


TABLES = ("flow table", "IPv6 flow table")  # as the warnings name them


def change_line(
    where: str, before: str | None, now: str | None, table: str, name: str = TABLES[0]
) -> str | None:
    """What to say when one table's warning comes or goes (None: no change;
    while it lasts it is said once, not on every look).  `table`: that
    table's own figures, for the recovery."""
    if now is not None and before is None:
        return f"{where}: affinity at risk: {now}"
    if now is None and before is not None:
        return f"{where}: {name} recovered, no flow losing its affinity: {table}"
    return None


def _figures(occ: FlowOccupancy | None) -> str:
    return f"{occ.entries:,} of {occ.capacity:,} entries" if occ else "size unknown"


@dataclass
class FlowWatch:
    report: Callable[[str], None]
    every: float = EVERY
    _prev: dict[str, Counters] = field(default_factory=dict)
    # The warning said and still standing, per balancer and table: IPv4's
    # and IPv6's come and go on their own.
    _said: dict[tuple[str, str], str] = field(default_factory=dict)
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
        if prev is None:
            return
        warnings = table_warnings(prev, cur, cur.taken_at - prev.taken_at)
        for name, warning, occ in zip(
            TABLES, warnings, (cur.occupancy, cur.occupancy6), strict=True
        ):
            self._say(where, name, warning, _figures(occ))

    def _say(self, where: str, name: str, warning: str | None, figures: str) -> None:
        line = change_line(where, self._said.get((where, name)), warning, figures, name)
        if warning is None:
            self._said.pop((where, name), None)
        else:
            self._said[(where, name)] = warning
        if line is not None:
            self.report(f"flows: {line}")
            events.note("daemon", f"flows: {line}")
