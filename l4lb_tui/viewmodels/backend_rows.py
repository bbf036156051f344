"""The dashboard's backend rows: their cells, the filter, and the one-service view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

from l4lb_tui.abi import ServiceKey
from l4lb_tui.console_daemon import DaemonView
from l4lb_tui.rates import fmt_int, share
from l4lb_tui.stats import BackendRow, StatsView
from l4lb_tui.viewmodels.cells import Cell
from l4lb_tui.viewmodels.health_rows import NONE, health_cell, health_of
from l4lb_tui.viewmodels.history import RateHistory
from l4lb_tui.viewmodels.sorting import SortOrder, SortValue, ordered, sort_values
from l4lb_tui.viewmodels.sparkline import sparkline

SPARK_WIDTH = 30


def weight_cell(row: BackendRow) -> Cell:
    """The weight, and "drain" in yellow when the backend takes no new flows.

    A drained backend keeps its weight for when it is undrained ("3 drain");
    weight 0 drains too ("0 drain").
    """
    if row.draining or row.weight == 0:
        return Text(f"{row.weight} drain", style="yellow", justify="right")
    return str(row.weight)


def backend_cells(
    row: BackendRow, total_pps: float, spark: str, health: Cell = NONE
) -> tuple[Cell, ...]:
    return (
        str(row.number),
        row.service,
        row.ip,
        row.mac,
        weight_cell(row),
        fmt_int(row.rate.pps),
        fmt_int(row.rate.bps),
        f"{share(row.rate.pps, total_pps) * 100:.1f}%",
        health,
        spark,
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


def backend_lines(
    view: StatsView, history: RateHistory, daemon: DaemonView | None = None
) -> tuple[BackendLine, ...]:
    """Every backend's row, in the view's order (sparklines and all)."""
    total, peak = view.total.pps, history.peak
    lines = []
    for row in view.rows:
        health = health_of(daemon, row.service, row.ip)
        spark = sparkline(history.series(row.index), SPARK_WIDTH, 60, peak)
        lines.append(
            BackendLine(
                str(row.index),
                backend_cells(row, total, spark, health_cell(health)),
                row.service,
                f"{row.ip} {row.mac} {row.service}".lower(),
                sort_values(row, health.status if health else ""),
            )
        )
    return tuple(lines)


def sorted_lines(lines: Sequence[BackendLine], order: SortOrder) -> list[BackendLine]:
    """The rows in the order the table is sorted by (ties: the view's order)."""
    if not lines or not lines[0].sort_values:
        return list(lines)
    return [lines[n] for n in ordered([line.sort_values for line in lines], order)]


def pick_rows(
    lines: Sequence[BackendLine], wanted: str, scope: str | None
) -> list[tuple[str, tuple[Cell, ...]]]:
    """The rows the table shows: those of the service in view matching the filter."""
    wanted = wanted.lower()
    return [
        (line.key, line.cells)
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
