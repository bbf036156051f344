"""Every check's health in one place, fed with results as they come.

Pure: no I/O and no clock, so a daemon, a benchmark or a test drive it the
same way.  Results for checks it does not track (a backend removed while its
probe was in flight) are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from l4lb_tui.health.logic.counting import advance
from l4lb_tui.health.model import BackendHealth, CheckKey, ProbeResult


@dataclass(frozen=True, slots=True)
class Change:
    key: CheckKey
    before: BackendHealth
    after: BackendHealth


class HealthBoard:
    def __init__(self) -> None:
        self._health: dict[CheckKey, BackendHealth] = {}
        self._counts: dict[CheckKey, tuple[int, int]] = {}
        self._services: dict[str, list[CheckKey]] = {}

    def set_checks(self, counts: Mapping[CheckKey, tuple[int, int]]) -> None:
        """Track exactly these checks, each with its (rise, fall); a check
        already tracked keeps its health, a new one starts unknown."""
        for rise, fall in counts.values():
            if rise < 1 or fall < 1:
                raise ValueError(f"rise {rise} and fall {fall} must be at least 1")
        self._counts = dict(counts)
        self._health = {key: self._health.get(key, BackendHealth()) for key in counts}
        self._services = {}
        for key in counts:
            self._services.setdefault(key.service, []).append(key)

    def apply(self, results: Iterable[ProbeResult]) -> list[Change]:
        """Count the results in; the checks whose status changed, in order."""
        changes = []
        health, counts = self._health, self._counts
        for result in results:
            key = result.key
            before = health.get(key)
            if before is None:
                continue
            rise, fall = counts[key]
            after = advance(before, result, rise, fall)
            health[key] = after
            if after.status is not before.status:
                changes.append(Change(key, before, after))
        return changes

    def health(self, key: CheckKey) -> BackendHealth:
        return self._health[key]

    def service(self, service: str) -> dict[str, BackendHealth]:
        """The health of `service`'s backends, by address (for `decide`)."""
        return {key.backend: self._health[key] for key in self._services.get(service, ())}

    def __len__(self) -> int:
        return len(self._health)
