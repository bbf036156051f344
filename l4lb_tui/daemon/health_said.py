"""What the daemon's health control says of its checks: the journal's and
event log's lines, the status file's entries (health_status.py), and the
metrics' view of them (the latency histogram's labels, each service's
health).  Nothing here decides anything: it reads what health.py counted."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from l4lb_tui import events, health_status
from l4lb_tui.abi import ServiceKey
from l4lb_tui.config_model import BalancerSpec
from l4lb_tui.daemon.health_writes import check_name
from l4lb_tui.destinations import Destination
from l4lb_tui.health.logic.board import HealthBoard
from l4lb_tui.health.model import CheckKey, ServiceVerdict
from l4lb_tui.metrics import ServiceHealth

Report = Callable[[str], None]
Where = tuple[str, str | None]  # a balancer: interface, netns


class Checked(Protocol):
    """A service under health checks, as health.py holds it."""

    name: str
    balancer: BalancerSpec
    key: ServiceKey
    backends: dict[str, Destination]
    verdict: ServiceVerdict | None


def tell(report: Report, c: Checked, line: str, backend: str = "") -> None:
    """A decision, to the journal and the event log."""
    report(f"{c.name}: {line}")
    events.note("health", line, interface=c.balancer.interface, service=str(c.key), backend=backend)


def tell_at(report: Report, bal: BalancerSpec, key: ServiceKey, line: str) -> None:
    report(f"{check_name(bal, key)}: {line}")
    events.note("health", line, interface=bal.interface, service=str(key))


def service_health(checked: Mapping[str, Checked]) -> dict[Where, dict[str, ServiceHealth]]:
    """Each balancer's services' health, for its metrics."""
    found: dict[Where, dict[str, ServiceHealth]] = {}
    for c in checked.values():
        if c.verdict is not None:
            found.setdefault((c.balancer.interface, c.balancer.netns), {})[str(c.key)] = (
                ServiceHealth(c.verdict.healthy, c.verdict.quorum, c.verdict.failed_open)
            )
    return found


def labels(checked: Mapping[str, Checked], name: str) -> tuple[str, str, str]:
    """A check name's interface, netns ("": this one) and service, for the
    latency histogram: two balancers' probes are two series."""
    c = checked.get(name)
    return (c.balancer.interface, c.balancer.netns or "", str(c.key)) if c else ("", "", name)


def entries(
    checked: Mapping[str, Checked], board: HealthBoard, wall: float, mono: float
) -> tuple[health_status.HealthEntry, ...]:
    """Every check's health for the status file; `wall` and `mono` are the
    same instant on both clocks (a status's `since` is monotonic)."""
    found = []
    for name, c in checked.items():
        for ip in c.backends:
            h = board.health(CheckKey(name, ip))
            last = h.last
            found.append(
                health_status.HealthEntry(
                    c.balancer.interface,
                    c.balancer.netns or "",
                    str(c.key),
                    ip,
                    h.status.value,
                    last.detail if last else "",
                    bool(last and last.ok),
                    round(last.latency * 1000, 2) if last else 0.0,
                    wall - (mono - h.since) if h.known else 0.0,
                )
            )
    return health_status.entries_of(found)
