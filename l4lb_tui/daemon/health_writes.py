"""What the health checker writes to a balancer, and what it keeps out of an
apply: only the backends it took out itself are ever its business.

Drain mode writes the down bits (backend_edits.SetHealth), which are the
checker's alone.  Remove mode removes a backend and remembers it as it was
(an operator's drain and weight with it), so that what comes back is that
same backend; what an operator removed is never added back, since the
checker only adds what it removed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from l4lb_tui import backend_edits
from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.config_model import NEIGHBOUR, BalancerSpec, Config, ServiceSpec
from l4lb_tui.destinations import Destination
from l4lb_tui.health.model import BackendHealth

Tell = Callable[[str, str], None]  # (line, backend)


def check_name(bal: BalancerSpec, key: ServiceKey) -> str:
    """A service's name in the health checker: the same service on two
    balancers is two services to check."""
    where = f" in {bal.netns}" if bal.netns else ""
    return f"{key} on {bal.interface}{where}"


@dataclass
class Removals:
    """What remove mode took out of one service, as it was when taken."""

    removed: dict[str, Destination] = field(default_factory=dict)

    def write(
        self,
        bal: Balancer,
        key: ServiceKey,
        out: frozenset[str],
        before: frozenset[str],
        configured: Mapping[str, Destination],
    ) -> None:
        """Remove what is newly out and add back what this removed and is no
        longer out; one edit at a time, each remembered as it is made."""
        now = {d.ip: d for d in bal.members(key)}
        for ip in sorted(out - before):
            if ip in now:
                bal.edit({key: backend_edits.Remove(ip)})
                self.removed[ip] = now[ip]
        for ip in sorted(before - out):
            was = self.removed.get(ip)
            if was is None or ip in now:
                self.removed.pop(ip, None)
                continue
            if was.mac == NEIGHBOUR:
                fresh = configured.get(ip)
                if fresh is None or fresh.mac == NEIGHBOUR:
                    continue  # unresolved: left for the next apply
                was = replace(fresh, weight=was.weight, drained=was.drained)
            bal.edit({key: backend_edits.Add(replace(was, down=False))})
            del self.removed[ip]

    def serving(self) -> set[str]:
        """Those removed that would serve if they came back."""
        return {ip for ip, d in self.removed.items() if d.weight and not d.drained}


def withhold(config: Config, out: Mapping[str, frozenset[str]]) -> Config:
    """`config` without the backends remove mode took out (by check name),
    so that an apply does not add back a dead backend the checker removed;
    only where the service still removes on failure."""
    balancers = []
    for bal in config.balancers:
        services: list[ServiceSpec] = []
        for spec in bal.services:
            gone = {key: out.get(check_name(bal, key), frozenset()) for key in spec.keys}
            health = spec.health
            if health is None or health.on_failure != "remove" or not any(gone.values()):
                services.append(spec)
                continue
            # One spec may name two services, each with its own removals.
            services += [
                replace(
                    spec,
                    keys=(key,),
                    backends=tuple(b for b in spec.backends if b.ip not in gone[key]),
                )
                for key in spec.keys
            ]
        balancers.append(replace(bal, services=tuple(services)))
    return replace(config, balancers=tuple(balancers))


def cleared(out: frozenset[str], removes: bool, members: list[Destination]) -> str:
    """What the checker drained (`out`) that the maps no longer say is down
    ("": nothing; remove mode keeps its own record)."""
    if removes:
        return ""
    lost = {d.ip for d in members if not d.down and d.ip in out}
    return ", ".join(sorted(lost))


def why(exc: Exception) -> str:
    return str(exc) if isinstance(exc, BalancerError) else f"{type(exc).__name__}: {exc}"


def said(key: str, h: BackendHealth) -> str:
    """A status change as the journal says it: which, what now, and why."""
    last = h.last
    detail = f" ({last.detail}, {last.latency * 1000:.0f} ms)" if last else ""
    return f"{key}: {h.status.value}{detail}"
