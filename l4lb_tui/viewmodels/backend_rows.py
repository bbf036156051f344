"""The dashboard's backend rows: their cells, the filter, and the one-service view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from rich.text import Text

from l4lb_tui.abi import ServiceKey
from l4lb_tui.console_daemon import DaemonView
from l4lb_tui.rates import fmt_int, share
from l4lb_tui.stats import BackendRow, StatsView
from l4lb_tui.viewmodels.cells import Cell
from l4lb_tui.viewmodels.health_rows import NONE, health_cell, health_of
from l4lb_tui.viewmodels.history import RateHistory
from l4lb_tui.viewmodels.sorting import SortOrder, SortValue, ordered, sort_values
from l4lb_tui.viewmodels.sparkline import Sparkline

SPARK_WIDTH = 30


def weight_cell(row: BackendRow) -> Cell:
    """The weight, and "drain" in yellow when the backend takes no new flows.

    A drained backend keeps its weight for when it is undrained ("3 drain");
    weight 0 drains too ("0 drain").  One the health checker took out says
    "down" in red ("3 down"): the Health column is given up on narrow
    terminals, and this cell never is, so an operator at 80 columns still
    sees that it is out of rotation.
    """
    if row.down:
        return Text(f"{row.weight} down", style="bold red", justify="right")
    if row.draining or row.weight == 0:
        return Text(f"{row.weight} drain", style="yellow", justify="right")
    return str(row.weight)


NO_RATE = "\u2013"  # an en dash: no rate yet (the first sample)


def share_cell(row: BackendRow, total_pps: float, rated: bool) -> str:
    return f"{share(row.rate.pps, total_pps) * 100:.1f}%" if rated else NO_RATE


def backend_cells(
    row: BackendRow, total_pps: float, spark: Cell, health: Cell = NONE, rated: bool = True
) -> tuple[Cell, ...]:
    return (
        str(row.index),  # the slot: the detail names it, and it never renumbers
        row.service,
        row.ip,
        row.mac,
        weight_cell(row),
        fmt_int(row.rate.pps) if rated else NO_RATE,
        fmt_int(row.rate.bps) if rated else NO_RATE,
        share_cell(row, total_pps, rated),
        health,
        spark,
        fmt_int(row.pkts),
    )


@dataclass
class ServiceScope:
    """Which service the table shows: all of them (None) or one at a time."""

    current: str | None = None

    def cycle(self, services: Sequence[str]) -> str | None:
        """All → the first service → the next … → the last → all again."""
        order: list[str | None] = [None, *services]
        at = order.index(self.current) if self.current in order else 0
        self.current = order[(at + 1) % len(order)]
        return self.current

    def settle(self, services: Sequence[str]) -> None:
        """Back to all services when the one shown is gone (removed, undone)."""
        if self.current is not None and self.current not in services:
            self.current = None

    def position(self, services: Sequence[str]) -> str:
        """'2 of 3' for the service shown."""
        shown = self.current
        if shown is None or shown not in services:
            return ""
        return f"{list(services).index(shown) + 1} of {len(services)}"


@dataclass(frozen=True, slots=True)
class BackendLine:
    """One backend's row, before the filter and the service view pick rows."""

    key: str  # the backend slot: the table's row key
    cells: tuple[Cell, ...]
    service: str
    search: str  # what the filter matches: IP, MAC and service, lower case
    sort_values: SortValue = ()  # what each column sorts by (viewmodels/sorting.py)
    scoped: tuple[Cell, ...] = ()  # the cells in the one-service view: share of the service


SHARE = 7  # the share's place in a row's cells
RATES = slice(5, SHARE + 1)  # pkts/s, bits/s and share: what a stale row has none of


def without_rates(lines: Sequence[BackendLine]) -> tuple[BackendLine, ...]:
    """The rows with a dash for every rate: the last poll failed (the
    interface deleted, say), and its last rates would read as live ones."""

    def dashed(cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
        return (*cells[: RATES.start], *(NO_RATE,) * 3, *cells[RATES.stop :]) if cells else cells

    return tuple(
        replace(line, cells=dashed(line.cells), scoped=dashed(line.scoped)) for line in lines
    )


def backend_lines(
    view: StatsView,
    history: RateHistory,
    daemon: DaemonView | None = None,
    rated: bool = True,
) -> tuple[BackendLine, ...]:
    """Every backend's row, in the view's order (sparklines and all);
    not `rated`: the first sample, which has no rates yet."""
    total, peak = view.total.pps, history.peak
    per_service: dict[str, float] = {}
    for row in view.rows:
        per_service[row.service] = per_service.get(row.service, 0.0) + row.rate.pps
    lines = []
    for row in view.rows:
        health = health_of(daemon, row.service, row.ip)
        spark = Sparkline(history.series(row.index), SPARK_WIDTH, 60, peak)
        cells = backend_cells(row, total, spark, health_cell(health), rated)
        in_service = share_cell(row, per_service[row.service], rated)
        scoped = (*cells[:SHARE], in_service, *cells[SHARE + 1 :])
        search = f"{row.ip} {row.mac} {row.service}".lower()
        values = sort_values(row, health.status if health else "")
        lines.append(BackendLine(str(row.index), cells, row.service, search, values, scoped))
    return tuple(lines)


def sorted_lines(lines: Sequence[BackendLine], order: SortOrder) -> list[BackendLine]:
    """The rows in the order the table is sorted by (ties: the view's order)."""
    if not lines or not lines[0].sort_values:
        return list(lines)
    return [lines[n] for n in ordered([line.sort_values for line in lines], order)]


def pick_rows(
    lines: Sequence[BackendLine], wanted: str, scope: str | None
) -> list[tuple[str, tuple[Cell, ...]]]:
    """The rows the table shows: those of the service in view matching the
    filter; in the one-service view, a backend's share is of its service."""
    wanted = wanted.lower()
    return [
        (line.key, line.scoped if scope is not None and line.scoped else line.cells)
        for line in lines
        if (scope is None or line.service == scope) and (not wanted or wanted in line.search)
    ]


def target_service(
    picked: ServiceKey | None, keys: Sequence[ServiceKey], shown: str | None
) -> ServiceKey | None:
    """The service a new backend or a file goes to: the highlighted row's
    (`picked`), else the one shown, else the only one there is."""
    if picked:
        return picked
    named = [k for k in keys if str(k) == shown]
    if named or len(keys) == 1:
        return (named or list(keys))[0]
    return None
