"""The daemon's health checks: probes built from the config, results counted
(rise and fall), each service's verdict carried out as the health checker's
own drains (or removals), never touching an operator's.

Results arrive on the scheduler's thread and are handed to the daemon's
control thread (`deliver` puts them on its work queue); everything else here
runs on the control thread.  How probes reach the backends is health_routes'
choice (said per service, loudly); what is written, health_writes'.

The daemon owns the down bits: after a start or a reload a backend no check
covers is not down, and a check that starts afresh adopts the down bits it
finds until its first complete verdict writes the truth.  A verdict that
cannot be written (the interface's lock held by an operator's change, say)
is tried again at the next look at every service (COMPARE_EVERY).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from l4lb_tui import backend_edits, config_apply, health_status
from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.config_model import BalancerSpec, Config, ServiceSpec
from l4lb_tui.daemon import follow, health_said, removed
from l4lb_tui.daemon.health_routes import Route, Routes
from l4lb_tui.daemon.health_said import Where
from l4lb_tui.daemon.health_vetting import Vetting
from l4lb_tui.daemon.health_writes import Removals, check_name, cleared, said, why, withhold
from l4lb_tui.destinations import Destination
from l4lb_tui.health.logic.board import HealthBoard
from l4lb_tui.health.logic.probes import build_probe
from l4lb_tui.health.logic.verdict import decide
from l4lb_tui.health.model import (
    CheckKey,
    Probe,
    ProbeResult,
    ServiceVerdict,
    Target,
)
from l4lb_tui.health.scheduler import Scheduler
from l4lb_tui.identity import BalancerId
from l4lb_tui.metrics import ServiceHealth

Report = Callable[[str], None]
COMPARE_EVERY = 2.0  # seconds between looks at services whose health did not change


@dataclass
class _Checked:
    """A service under health checks, by the name its checks carry."""

    name: str
    balancer: BalancerSpec
    spec: ServiceSpec
    key: ServiceKey
    backends: dict[str, Destination]  # by address, as configured
    out: frozenset[str] = frozenset()  # what the checker took out so far
    removals: Removals = field(default_factory=Removals)
    verdict: ServiceVerdict | None = None
    stuck: str = ""  # why the last verdict could not be written ("": it was)
    ident: BalancerId | None = None  # the balancer's identity when configured
    moved: str = ""  # what was said of a rename followed ("": none)

    @property
    def removes(self) -> bool:
        return self.spec.health is not None and self.spec.health.on_failure == "remove"


@dataclass
class HealthControl:
    report: Report
    deliver: Callable[[tuple[ProbeResult, ...]], None]
    board: HealthBoard = field(default_factory=HealthBoard)
    checked: dict[str, _Checked] = field(default_factory=dict)
    schedulers: dict[str | None, Scheduler] = field(default_factory=dict)
    routes: Routes | None = None
    said: dict[str, str] = field(default_factory=dict)  # the route told, per check name
    removed_path: Path | None = None  # None: removed.REMOVED_FILE
    # What remove mode had taken out when the daemon last ran, until the
    # first configure takes it over (see removed.py).
    restored: removed.Removed = field(default_factory=dict)
    compared: float = 0.0  # when every service's drains were last compared with the maps
    config: Config | None = None  # the one configured last
    vetting: Vetting | None = None  # which results count (made with the routes)

    def __post_init__(self) -> None:
        if self.routes is None:
            self.routes = Routes(self.report)
        self.vetting = Vetting(self.routes, self._netns)
        self.restored = removed.load(self.removed_path)

    # -- configuration ----------------------------------------------------------

    def withheld(self, config: Config) -> Config:
        """`config` as an apply should see it: without the dead backends
        remove mode took out (a reload must not add them back)."""
        self._prune_restored(config)
        out = {n: frozenset(r) for n, r in self.restored.items()}
        out.update({n: c.out for n, c in self.checked.items() if c.removes})
        return withhold(config, out)

    def _prune_restored(self, config: Config) -> None:
        """Forget what the last run removed that runs again (an operator's
        `apply` or `backend add` while no daemon ran): it is no longer the
        checker's, and withholding it would take a serving backend out."""
        if not self.restored:
            return
        for bal in config.balancers:
            for spec in bal.services:
                for key in spec.keys:
                    gone = self.restored.get(name := check_name(bal, key))
                    if not gone:
                        continue
                    try:
                        running = {d.ip for d in config_apply.balancer_of(bal).members(key)}
                    except BalancerError:
                        continue  # no such balancer or service yet: nothing runs again
                    self.restored[name] = {ip: d for ip, d in gone.items() if ip not in running}

    def configure(self, config: Config) -> None:
        """Check what `config` asks to be checked, from now on."""
        assert self.routes is not None
        probes: dict[str | None, list[Probe]] = {}
        checked: dict[str, _Checked] = {}
        carried: dict[str, frozenset[str] | None] = {}
        self.routes.begin(config.balancers)
        for bal in config.balancers:
            route = self.routes.plan(bal)
            macs = config_apply.neighbour_macs(bal)
            ident = follow.identity(bal)
            for spec in bal.services:
                if spec.health is None:
                    continue
                through = route.through(spec)
                for key in spec.keys:
                    c, carried[c_name] = self._carried(
                        c_name := check_name(bal, key), bal, spec, key, macs
                    )
                    checked[c_name], c.ident = c, ident
                    self._say_route(c, route.describe(spec, through))
                    probes.setdefault(bal.netns, []).extend(
                        self._probe(c, ip, route, through) for ip in c.backends
                    )
        self.routes.finish()
        self.checked = checked
        self.said = {n: line for n, line in self.said.items() if n in checked}
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
        for bal in config.balancers:
            self._own_down_bits(bal, carried)
        self.restored = {}
        self._save_removed()
        self.config = config

    def _save_removed(self) -> None:
        removed.save(
            {n: c.removals.removed for n, c in self.checked.items() if c.removes},
            self.removed_path,
        )

    def _carried(
        self, name: str, bal: BalancerSpec, spec: ServiceSpec, key: ServiceKey, macs: dict[str, str]
    ) -> tuple[_Checked, frozenset[str] | None]:
        """The service as now configured, with what the checker took out of
        it before this reload (None: a check that starts afresh)."""
        dests = {
            b.ip: Destination(b.ip, macs.get(b.ip, b.mac), b.weight, b.drained)
            for b in spec.backends
        }
        c = _Checked(name, bal, spec, key, dests)
        old = self.checked.get(name)
        if old is None:
            # A restart: what the last run removed is this check's still.
            was = {ip: d for ip, d in self.restored.get(name, {}).items() if ip in dests}
            if not was or not c.removes:
                return c, None
            c.removals.removed = was
            return c, frozenset(was)
        c.removals.removed = {ip: d for ip, d in old.removals.removed.items() if ip in dests}
        return c, old.out & frozenset(dests)

    def _own_down_bits(self, bal: BalancerSpec, carried: dict[str, frozenset[str] | None]) -> None:
        """Make the running down bits the checker's: none where no check
        drains, the carried ones where a check goes on, the ones found where
        a check starts (its first complete verdict writes the truth)."""
        b = config_apply.balancer_of(bal)
        for spec in bal.services:
            for key in spec.keys:
                name = check_name(bal, key)
                c = self.checked.get(name)
                try:
                    self._own(bal, b, key, c, carried.get(name))
                except BalancerError as exc:
                    self.report(f"{name}: could not set the health checker's drains: {exc}")
                    if c is not None:
                        c.stuck = str(exc)

    def _own(
        self,
        bal: BalancerSpec,
        b: Balancer,
        key: ServiceKey,
        c: _Checked | None,
        carried: frozenset[str] | None,
    ) -> None:
        down = frozenset(d.ip for d in b.members(key) if d.down)
        if c is None or c.removes:
            if down:
                b.edit({key: backend_edits.SetHealth(frozenset())})
                why = "no check covers them now" if c is None else "its checks remove, not drain"
                self._tell_at(bal, key, f"{', '.join(sorted(down))} no longer down: {why}")
            if c is not None and carried:
                c.removals.write(b, key, carried, frozenset(), c.backends)
                c.out = carried
            return
        c.out = (down & frozenset(c.backends)) if carried is None else carried
        if down != c.out:
            b.edit({key: backend_edits.SetHealth(c.out)})

    def _say_route(self, c: _Checked, line: str) -> None:
        if self.said.get(c.name) != line:
            self.said[c.name] = line
            self._tell(c, line)

    def _probe(self, c: _Checked, ip: str, route: Route, through: bool) -> Probe:
        assert c.spec.health is not None
        tunnel = through and ip in route.marks
        return build_probe(
            CheckKey(c.name, ip),
            c.spec.health,
            c.key.vip,
            c.key.port,
            Target.TUNNEL if tunnel else Target.ADDRESS,
            mark=route.marks.get(ip, 0) if tunnel else 0,
            source=route.source_for(ip, tunnel),
        )

    # -- results, on the control thread ---------------------------------------------

    def results(self, results: tuple[ProbeResult, ...]) -> None:
        assert self.vetting is not None
        counted, grown = self.vetting.vet(results, now := time.monotonic())
        if grown and self.config is not None:
            self._replan(self.config)
        changes = self.board.apply(counted)
        touched = set()
        for change in changes:
            c = self.checked.get(change.key.service)
            if c is not None:
                self._tell(c, said(change.key.backend, change.after), change.key.backend)
            touched.add(change.key.service)
        # Held and stuck services wait for the look at every service below:
        # carrying each out reads its balancer (a netns switch and a map
        # read, 0.1-0.4 s under load), and doing it on every delivery kept
        # the control thread, and reloads behind it, tens of seconds late.
        waiting = {n for n, c in self.checked.items() if c.verdict is None}
        if now - self.compared >= COMPARE_EVERY:
            # Every service now and then, not only those whose health changed:
            # a reload or a hand `map` may have cleared a drain meanwhile.
            self.compared, waiting = now, set(self.checked)
            if self.vetting.look(now) and self.config is not None:
                self._replan(self.config)
        for name in sorted(touched | waiting):
            self._carry_out(name)

    def tick(self) -> None:
        """No results for a while: what the vetting holds is counted once
        the tunnels were looked at after it (sparse checks wait no longer)."""
        assert self.vetting is not None
        if self.vetting.held:
            self.results(())

    def _netns(self, name: str) -> tuple[bool, str | None]:
        c = self.checked.get(name)
        return (False, None) if c is None else (True, c.balancer.netns)

    def _replan(self, config: Config) -> None:
        """The tunnel gained a family (its source is on the host now): the
        services of that family go through it from now on, as a reload would."""
        try:
            self.configure(config)
        except Exception as exc:  # as a reload's: said, and the checks run on as they were
            self.report(f"health checks not moved to the probe tunnel: {type(exc).__name__}: {exc}")

    def _carry_out(self, name: str) -> None:
        c = self.checked.get(name)
        if c is None or c.spec.health is None:
            return
        health = c.spec.health
        try:
            b, moved = follow.balancer(c.balancer, c.ident)
            if moved != c.moved:
                c.moved = moved
                if moved:
                    self._tell(c, moved)
            members = b.members(c.key)
            serving = {d.ip for d in members if d.weight and not d.drained}
            verdict = decide(
                self.board.service(name),
                health.quorum,
                health.on_failure,
                c.out,
                serving | c.removals.serving(),
            )
            was, c.verdict = c.verdict, verdict
            if verdict.message and (was is None or was.message != verdict.message):
                self._tell(c, verdict.message)
            elif was is not None and was.failed_open and not verdict.failed_open:
                self._tell(c, f"no longer failing open: {len(verdict.healthy)} healthy")
            # Held: nothing new, but what could not be written before is.
            out = c.out if verdict.held else verdict.take_out
            lost = cleared(c.out, c.removes, members)
            if out != c.out or c.stuck or lost:
                self._write(b, c, out, frozenset(d.ip for d in members))
            if lost and out == c.out:
                self._tell(c, f"drained {lost} again (unhealthy; a change had cleared it)")
        except Exception as exc:  # whatever it is (link gone, EMFILE): said once, retried
            if not c.stuck:
                self._tell(
                    c,
                    "could not carry out the health verdict "
                    f"(tried again every 2 s): {why(exc)}",  # COMPARE_EVERY
                )
            c.stuck = why(exc)
            return
        if c.stuck:
            self._tell(c, "the health verdict is carried out now")
            c.stuck = ""

    def _write(self, b: Balancer, c: _Checked, out: frozenset[str], loaded: frozenset[str]) -> None:
        before = c.out
        if c.removes:
            # Each edit is remembered as made, so a write cut short by an
            # error is simply written again (what is done is not redone).
            try:
                c.removals.write(b, c.key, out, before, c.backends)
            finally:
                self._save_removed()
        else:
            b.edit({c.key: backend_edits.SetHealth(out)})
        c.out = out
        gone, back = out - before, before - out
        verb = "removed" if c.removes else "drained"
        # A backend the apply left out (no MAC) is checked but not in the maps.
        unloaded = frozenset() if c.removes else gone - loaded
        if gone - unloaded:
            self._tell(c, f"{verb} {', '.join(sorted(gone - unloaded))} (unhealthy)")
        if unloaded:
            self._tell(c, f"{', '.join(sorted(unloaded))}: unhealthy, not loaded: nothing to drain")
        healthy = c.verdict.healthy if c.verdict else back
        for ips, because in ((back & healthy, "healthy again"), (back - healthy, "failing open")):
            if ips:  # failing open restores the unhealthy too: never "healthy again"
                self._tell(c, f"restored {', '.join(sorted(ips))} ({because})")

    def _tell(self, c: _Checked, line: str, backend: str = "") -> None:
        health_said.tell(self.report, c, line, backend)

    def _tell_at(self, bal: BalancerSpec, key: ServiceKey, line: str) -> None:
        health_said.tell_at(self.report, bal, key, line)

    # -- what others read (health_said.py) ---------------------------------------------

    def service_health(self) -> dict[Where, dict[str, ServiceHealth]]:
        return health_said.service_health(self.checked)

    def labels(self, name: str) -> tuple[str, str, str]:
        return health_said.labels(self.checked, name)

    def entries(self, wall: float, mono: float) -> tuple[health_status.HealthEntry, ...]:
        return health_said.entries(self.checked, self.board, wall, mono)

    def stop(self) -> None:
        for scheduler in self.schedulers.values():
            with contextlib.suppress(Exception):
                scheduler.stop()
        self.schedulers.clear()
        if self.routes is not None:
            self.routes.stop()
