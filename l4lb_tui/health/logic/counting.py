"""A backend's health, result by result: HAProxy's rise and fall counting.

A first result settles an unknown backend at once (a pass: up, a failure:
down), as HAProxy treats a server that starts "up, going down" after one
failed check; after that a status changes only after `rise` passes or `fall`
failures in a row.
"""

from __future__ import annotations

from l4lb_tui.health.model import BackendHealth, ProbeResult, Status


def step(health: BackendHealth, result: ProbeResult, rise: int, fall: int) -> BackendHealth:
    """The health after one more result.  `rise` and `fall` are at least 1."""
    if rise < 1 or fall < 1:
        raise ValueError(f"rise {rise} and fall {fall} must be at least 1")
    status, streak = _next(health.status, health.streak, result.ok, rise, fall)
    since = health.since if status is health.status else result.started
    return BackendHealth(status=status, streak=streak, last=result, since=since)


def _next(status: Status, streak: int, ok: bool, rise: int, fall: int) -> tuple[Status, int]:
    if status is Status.UNKNOWN:
        return (Status.UP, 1) if ok else (Status.DOWN, 1)
    if status is Status.UP or status is Status.FALLING:
        if ok:
            # A pass ends a fall: the failures so far are forgotten.
            return Status.UP, (streak + 1 if status is Status.UP else 1)
        failures = streak + 1 if status is Status.FALLING else 1
        return (Status.DOWN, failures) if failures >= fall else (Status.FALLING, failures)
    # DOWN or RISING
    if not ok:
        return Status.DOWN, (streak + 1 if status is Status.DOWN else 1)
    passes = streak + 1 if status is Status.RISING else 1
    return (Status.UP, passes) if passes >= rise else (Status.RISING, passes)


def describe(key: str, before: BackendHealth, after: BackendHealth) -> str:
    """One line for the operator when a status changes ("" when it did not)."""
    if before.status is after.status:
        return ""
    last = after.last
    seen = f": {last.detail}" if last is not None else ""
    return f"{key}: {before.status} -> {after.status}{seen}"
