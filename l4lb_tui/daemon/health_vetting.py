"""Which probe results are verdicts on their backends.

A tunnel probe in flight while its family's tunnel was down says nothing of
the backend: a marked probe with no route of the tunnel falls through to the
host's own stack ("refused": the host holds the VIP) or finds no route at
all.  The tunnel goes down on purpose (a reload that moves it or removes a
family: health_routes records when) or by the kernel (a link that goes down
flushes the routes through it; the daemon only sees that when it looks).

So a failed tunnel probe waits, with every result after it (each check's
results keep their order), until the daemon has looked at the tunnels after
it ended, at most LOOK_EVERY later.  A look that finds a route gone makes
the time since the last look that found it there a gap, as a reload's are,
until the route is made again; the tunnel probes in a gap are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from l4lb_tui.daemon.health_routes import Routes
from l4lb_tui.health.model import ProbeResult, Target

LOOK_EVERY = 0.5  # seconds: how late a failed tunnel probe may be counted
Netns = Callable[[str], tuple[bool, str | None]]  # check name -> (known, its namespace)


@dataclass
class Vetting:
    routes: Routes
    netns: Netns
    held: list[ProbeResult] = field(default_factory=list)
    looked: float = 0.0  # when the tunnels were last looked at (monotonic)

    def vet(self, results: tuple[ProbeResult, ...], now: float) -> tuple[list[ProbeResult], bool]:
        """The results that count now, in order, and whether a look made a
        tunnel family the last plan could not give out (then plan again)."""
        failed = any(not r.ok and r.target is Target.TUNNEL for r in results)
        if not self.held and not (failed and self.routes.tunnels):
            return self._counted(results), False
        self.held.extend(results)
        if now - self.looked < LOOK_EVERY:
            return [], False  # the next results after the next look say
        grown = self.look(now)
        out, self.held = self.held, []
        return self._counted(out), grown

    def look(self, now: float) -> bool:
        """Look at (and repair) the tunnels; whether to plan again."""
        self.looked = now
        return self.routes.repair()

    def _counted(self, results: list[ProbeResult] | tuple[ProbeResult, ...]) -> list[ProbeResult]:
        if not self.routes.gaps:
            return list(results)
        return [r for r in results if not self._in_gap(r)]

    def _in_gap(self, r: ProbeResult) -> bool:
        if r.target is not Target.TUNNEL:
            return False
        known, netns = self.netns(r.key.service)
        return known and self.routes.remade(netns, r.key.backend, r.started, r.latency)
