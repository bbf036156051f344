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
    return advance(health, result, rise, fall)


def advance(health: BackendHealth, result: ProbeResult, rise: int, fall: int) -> BackendHealth:
    """`step` for callers that checked the counts once (the board: thousands a second)."""
    status = health.status
    if status is _UP and result.ok:  # nearly every result
        return BackendHealth(_UP, health.streak + 1, result, health.since)
    new, streak = _next(status, health.streak, result.ok, rise, fall)
    return BackendHealth(new, streak, result, health.since if new is status else result.started)


# Members as module constants: an enum member looked up by name costs more
# than the rest of a step.
_UNKNOWN, _UP, _FALLING, _DOWN, _RISING = (
    Status.UNKNOWN,
    Status.UP,
    Status.FALLING,
    Status.DOWN,
    Status.RISING,
)


def _next(status: Status, streak: int, ok: bool, rise: int, fall: int) -> tuple[Status, int]:
    if status is _UP:
        return (_UP, streak + 1) if ok else ((_DOWN, 1) if fall <= 1 else (_FALLING, 1))
    if status is _DOWN:
        return (_DOWN, streak + 1) if not ok else ((_UP, 1) if rise <= 1 else (_RISING, 1))
    if status is _UNKNOWN:
        return (_UP, 1) if ok else (_DOWN, 1)
    if status is _FALLING:
        if ok:
            return _UP, 1  # a pass ends a fall: the failures so far are forgotten
        return (_DOWN, streak + 1) if streak + 1 >= fall else (_FALLING, streak + 1)
    # RISING
    if not ok:
        return _DOWN, 1
    return (_UP, streak + 1) if streak + 1 >= rise else (_RISING, streak + 1)


def describe(key: str, before: BackendHealth, after: BackendHealth) -> str:
    """One line for the operator when a status changes ("" when it did not)."""
    if before.status is after.status:
        return ""
    last = after.last
    seen = f": {last.detail}" if last is not None else ""
    return f"{key}: {before.status} -> {after.status}{seen}"
