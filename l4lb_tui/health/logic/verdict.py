"""A service's verdict from its backends' health: who serves, who is taken
out, and when to change nothing (the start) or keep everyone (the quorum)."""

from __future__ import annotations

from collections.abc import Mapping, Set

from l4lb_tui.health.model import BackendHealth, ServiceVerdict
from l4lb_tui.wording import counted


def decide(
    health: Mapping[str, BackendHealth],
    quorum: int,
    on_failure: str,
    out: Set[str] = frozenset(),
    serving: Set[str] | None = None,
) -> ServiceVerdict:
    """The verdict for one service, whose backends (by address) have `health`.

    `out` is what health checks took out of service before (drained or
    removed): while some backend has no result yet the verdict keeps exactly
    that, so a restart, whose first results come in over one interval, never
    drains a pool that is merely not checked yet.  Below `quorum` healthy
    backends every backend serves (fail open): a check that fails everywhere
    at once is more likely broken than the whole pool.  `serving` is who
    would take new flows if healthy (not drained by an operator, weight
    above 0; None: everyone): only they count towards the quorum, since a
    healthy backend an operator drained serves no one.
    """
    everyone = frozenset(health)
    waiting = frozenset(ip for ip, h in health.items() if not h.known)
    healthy = frozenset(ip for ip, h in health.items() if h.healthy)
    unhealthy = everyone - waiting - healthy

    def verdict(
        serve: frozenset[str], held: bool = False, failed_open: bool = False, message: str = ""
    ) -> ServiceVerdict:
        return ServiceVerdict(
            healthy=healthy,
            unhealthy=unhealthy,
            waiting=waiting,
            serve=serve,
            take_out=everyone - serve,
            on_failure=on_failure,
            quorum=quorum,
            held=held,
            failed_open=failed_open,
            message=message,
        )

    if waiting:
        has = "has" if len(waiting) == 1 else "have"
        return verdict(
            everyone - frozenset(out),
            held=True,
            message=f"holding: {len(waiting)} of {counted(len(everyone), 'backend')} {has} "
            "no health result yet; nothing changes until every one has",
        )
    could = everyone if serving is None else everyone & frozenset(serving)
    if everyone and len(healthy & could) < quorum:
        good = len(healthy & could)
        return verdict(
            everyone,
            failed_open=True,
            message=f"FAILING OPEN: {good} of {counted(len(could), 'backend')} that would "
            f"serve {'is' if good == 1 else 'are'} healthy ({len(everyone) - len(could)} "
            f"drained by an operator), below the quorum of {quorum}: every backend keeps serving",
        )
    return verdict(healthy)
