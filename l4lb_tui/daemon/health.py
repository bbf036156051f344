"""The daemon's health checks: probes built from the config, results counted
(rise and fall), each service's verdict carried out as the health checker's
own drains (or removals), never touching an operator's.

Results arrive on the scheduler's thread and are handed to the daemon's
control thread (`deliver` puts them on its work queue); everything else here
runs on the control thread.  Through the tunnel where the config gives the
balancer a probe source and the kernel lets the tunnel be opened; at the
backend's own address otherwise (said once, loudly).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from l4lb_tui import backend_edits, config_apply, events, health_status
from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import BalancerError
from l4lb_tui.config_model import NEIGHBOUR, BalancerSpec, Config, ServiceSpec
from l4lb_tui.destinations import Destination
from l4lb_tui.health.adapters.tunnel import ProbeTunnel, TunnelError
from l4lb_tui.health.logic.board import HealthBoard
from l4lb_tui.health.logic.probes import build_probe
from l4lb_tui.health.logic.verdict import decide
from l4lb_tui.health.model import (
    BackendHealth,
    CheckKey,
    Probe,
    ProbeResult,
    ServiceVerdict,
    Target,
)
from l4lb_tui.health.scheduler import Scheduler
from l4lb_tui.metrics import ServiceHealth

Report = Callable[[str], None]


@dataclass
class _Checked:
    """A service under health checks, by the name its checks carry."""

    balancer: BalancerSpec
    spec: ServiceSpec
    key: ServiceKey
    backends: dict[str, Destination]  # by address, as configured
    out: frozenset[str] = frozenset()  # what the checker took out so far
    verdict: ServiceVerdict | None = None


@dataclass
class HealthControl:
    report: Report
    deliver: Callable[[tuple[ProbeResult, ...]], None]
    board: HealthBoard = field(default_factory=HealthBoard)
    checked: dict[str, _Checked] = field(default_factory=dict)
    schedulers: dict[str | None, Scheduler] = field(default_factory=dict)
    tunnels: dict[str | None, ProbeTunnel] = field(default_factory=dict)

    # -- configuration ----------------------------------------------------------

    def configure(self, config: Config) -> None:
        """Check what `config` asks to be checked, from now on."""
        probes: dict[str | None, list[Probe]] = {}
        checked: dict[str, _Checked] = {}
        for bal in config.balancers:
            marks = self._marks(bal)
            macs = config_apply.neighbour_macs(bal)
            for spec in bal.services:
                if spec.health is None:
                    continue
                for key in spec.keys:
                    name = str(key)
                    dests = {
                        b.ip: Destination(b.ip, macs.get(b.ip, b.mac), b.weight, b.drained)
                        for b in spec.backends
                    }
                    old = self.checked.get(name)
                    out = old.out & frozenset(dests) if old else frozenset()
                    checked[name] = _Checked(bal, spec, key, dests, out)
                    probes.setdefault(bal.netns, []).extend(
                        self._probe(name, ip, spec, key, bal, marks) for ip in dests
                    )
        self.checked = checked
        self.board.set_checks(
            {
                CheckKey(name, ip): (c.spec.health.rise, c.spec.health.fall)
                for name, c in checked.items()
                if c.spec.health
                for ip in c.backends
            }
        )
        for netns in set(self.schedulers) - set(probes):
            self.schedulers.pop(netns).stop()
        for netns, wanted in probes.items():
            if netns not in self.schedulers:
                self.schedulers[netns] = Scheduler(self.deliver, netns=netns)
                self.schedulers[netns].start()
            self.schedulers[netns].set_probes(wanted)

    def _marks(self, bal: BalancerSpec) -> dict[str, int]:
        """The tunnel's mark per backend, if this balancer probes through it."""
        wants = [s for s in bal.services if s.health and s.health.target != "address"]
        if not wants or bal.probe_source is None:
            return {}
        tunnel = self.tunnels.get(bal.netns)
        if tunnel is None:
            tunnel = ProbeTunnel(bal.interface, bal.probe_source, netns=bal.netns)
            try:
                tunnel.open()
            except TunnelError as exc:
                self.report(
                    f"health checks of {bal.interface} go to the backends' own addresses: {exc}"
                )
                return {}
            self.tunnels[bal.netns] = tunnel
        ips = {b.ip for s in wants for b in s.backends}
        return tunnel.set_backends(sorted(ips))

    def _probe(
        self,
        name: str,
        ip: str,
        spec: ServiceSpec,
        key: ServiceKey,
        bal: BalancerSpec,
        marks: Mapping[str, int],
    ) -> Probe:
        assert spec.health is not None
        tunnel = ip in marks and spec.health.target != "address"
        return build_probe(
            CheckKey(name, ip),
            spec.health,
            key.vip,
            key.port,
            Target.TUNNEL if tunnel else Target.ADDRESS,
            mark=marks.get(ip, 0),
            source=(bal.probe_source or "") if tunnel else "",
        )

    # -- results, on the control thread ---------------------------------------------

    def results(self, results: tuple[ProbeResult, ...]) -> None:
        changes = self.board.apply(results)
        touched = set()
        for change in changes:
            line = _said(change.key, change.after)
            self.report(line)
            events.note("health", line, service=change.key.service, backend=change.key.backend)
            touched.add(change.key.service)
        waiting = {n for n, c in self.checked.items() if c.verdict is None or c.verdict.held}
        for name in sorted(touched | waiting):
            self._carry_out(name)

    def _carry_out(self, name: str) -> None:
        c = self.checked.get(name)
        if c is None or c.spec.health is None:
            return
        health = c.spec.health
        verdict = decide(self.board.service(name), health.quorum, health.on_failure, c.out)
        was = c.verdict
        c.verdict = verdict
        if verdict.message and (was is None or was.message != verdict.message):
            self.report(f"{name}: {verdict.message}")
            events.note("health", verdict.message, service=name)
        if verdict.held or verdict.take_out == c.out:
            return
        try:
            self._write(c, verdict.take_out)
        except BalancerError as exc:
            self.report(f"{name}: could not carry out the health verdict: {exc}")
            return
        c.out = verdict.take_out

    def _write(self, c: _Checked, out: frozenset[str]) -> None:
        bal = config_apply.balancer_of(c.balancer)
        if c.spec.health is not None and c.spec.health.on_failure == "remove":
            now = {d.ip for d in bal.members(c.key)}
            changes: list[backend_edits.Change] = [backend_edits.Remove(ip) for ip in out & now]
            changes += [
                backend_edits.Add(c.backends[ip])
                for ip in sorted(set(c.backends) - out - now)
                if c.backends[ip].mac != NEIGHBOUR  # unresolved: left for the next apply
            ]
            for change in changes:
                bal.edit({c.key: change})
        else:
            bal.edit({c.key: backend_edits.SetHealth(out)})
        gone, back = out - c.out, c.out - out
        verb = "removed" if c.spec.health and c.spec.health.on_failure == "remove" else "drained"
        if gone:
            self.report(f"{c.key}: {verb} {', '.join(sorted(gone))} (unhealthy)")
        if back:
            self.report(f"{c.key}: restored {', '.join(sorted(back))} (healthy again)")

    # -- what others read ------------------------------------------------------------

    def service_health(self) -> dict[str, ServiceHealth]:
        return {
            name: ServiceHealth(c.verdict.healthy, c.verdict.quorum, c.verdict.failed_open)
            for name, c in self.checked.items()
            if c.verdict is not None
        }

    def entries(self, wall: float, mono: float) -> tuple[health_status.HealthEntry, ...]:
        """Every check's health for the status file; `wall` and `mono` are
        the same instant on both clocks (a status's `since` is monotonic)."""
        found = []
        for name, c in self.checked.items():
            for ip in c.backends:
                h = self.board.health(CheckKey(name, ip))
                last = h.last
                found.append(
                    health_status.HealthEntry(
                        c.balancer.interface,
                        c.balancer.netns or "",
                        name,
                        ip,
                        h.status.value,
                        last.detail if last else "",
                        bool(last and last.ok),
                        round(last.latency * 1000, 2) if last else 0.0,
                        wall - (mono - h.since) if h.known else 0.0,
                    )
                )
        return health_status.entries_of(found)

    def stop(self) -> None:
        for scheduler in self.schedulers.values():
            with contextlib.suppress(Exception):
                scheduler.stop()
        for tunnel in self.tunnels.values():
            with contextlib.suppress(TunnelError):
                tunnel.close()
        self.schedulers.clear()
        self.tunnels.clear()


def _said(key: CheckKey, h: BackendHealth) -> str:
    """A status change as the journal says it: which, what now, and why."""
    last = h.last
    why = f" ({last.detail}, {last.latency * 1000:.0f} ms)" if last else ""
    return f"{key}: {h.status.value}{why}"
