"""The daemon's life: apply the config at start, keep it applied (SIGHUP or
`l4lb reload` applies it again), serve metrics, stop on SIGTERM leaving the
data plane as it is.

One control thread makes every change (applies, health decisions), so the
daemon never races itself; each change takes the interface's lock for its
own length only, so the CLI and the console keep working beside it.  An
operator's drain is kept: the daemon applies with `keep_drains`.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import FrameType

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import generate_latest

from l4lb_tui import config_apply, events, health_status, metrics
from l4lb_tui.balancer import BalancerError
from l4lb_tui.bpftool import BpfError
from l4lb_tui.config_file import ConfigError, read_config
from l4lb_tui.config_model import Config
from l4lb_tui.daemon import answer, follow, http, notify, pidfile
from l4lb_tui.daemon.announce import BgpControl
from l4lb_tui.daemon.claim import ClaimedError, Claims
from l4lb_tui.daemon.flowwatch import FlowWatch
from l4lb_tui.daemon.health import HealthControl
from l4lb_tui.daemon.health_diff import health_changes
from l4lb_tui.health.model import ProbeResult
from l4lb_tui.lock import CLI_WAIT_HINT
from l4lb_tui.metrics import ServiceHealth
from l4lb_tui.netlink import NetlinkError
from l4lb_tui.wording import counted

TICK = 1.0  # seconds between the control thread's looks at its work
PUBLISH_EVERY = 1.0  # seconds between rewrites of the health status file
# How long an apply waits for an operator's change (the interface's lock) to
# end: a reload or a SIGHUP meeting one is carried out after it, not refused.
LOCK_WAIT = 10.0

Reporter = Callable[[str], None]


def say(line: str) -> None:
    """One line per decision, to stderr (the journal, under systemd)."""
    print(f"l4lb daemon: {line}", file=sys.stderr, flush=True)


Job = str | tuple[ProbeResult, ...]  # "reload", "stop", or health results


@dataclass
class Daemon:
    path: Path
    report: Reporter = say
    config: Config | None = None
    work: queue.Queue[Job] = field(default_factory=queue.Queue)
    server: ThreadingHTTPServer | None = None
    listening: str = ""  # where `server` serves
    health: HealthControl | None = None
    # What a scrape reads of the health checks: replaced whole, never changed.
    published: dict[tuple[str, str | None], dict[str, ServiceHealth]] = field(default_factory=dict)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    latency: Histogram | None = None
    status_path: Path | None = None  # None: health_status.STATUS_FILE
    answer_path: Path | None = None  # None: answer.ANSWER_FILE
    removed_path: Path | None = None  # None: removed.REMOVED_FILE
    applies: int = 0  # answers given: the next one's seq
    bgp: BgpControl = field(init=False)  # the BGP speaker, as a [bgp] table asks
    flows: FlowWatch = field(init=False)  # says when the flow tables lose affinity
    claims: Claims = field(default_factory=Claims)  # the balancers it manages, claimed
    _published_at: float = 0.0
    _unpublished: bool = True
    _failing: set[str] = field(default_factory=set)  # loop steps that failed, said once

    def __post_init__(self) -> None:
        self.bgp = BgpControl(self.report)
        self.flows = FlowWatch(self.report)
        self.latency = Histogram(
            "l4lb_health_check_duration_seconds",
            "How long health probes took to answer (or to time out)",
            ["interface", "netns", "service", "check"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )

    # -- what the control thread does -------------------------------------

    def read(self, why: str) -> Config | None:
        """The config file, or None (said) if it cannot be used."""
        try:
            return read_config(self.path)
        except ConfigError as exc:
            # At the start nothing was applied by this daemon: nothing is "kept".
            self._refused(
                why,
                f"{self.path} has errors, not started: {exc}"
                if why == "start"
                else f"{self.path} has errors, keeping the running state: {exc}",
            )
            return None

    def apply(self, why: str, config: Config | None = None) -> bool:
        """Apply the config (read afresh unless given); False (and the old
        config kept, the daemon running on) if it cannot be read or applied."""
        config = config or self.read(why)
        if config is None:
            return False
        made: list[str] = []
        left_out: list[str] = []

        def done(line: str) -> None:
            made.append(line)
            self.report(f"{why}: {line}")
            events.note("daemon", line, interface=_interface_of(line, config))

        def warn(line: str) -> None:
            if "LEFT OUT" in line:
                left_out.append(line)
            self.report(f"{why}: {line}")
            events.note("daemon", line, interface=_interface_of(line, config))

        try:
            if self.health is None:
                # Before the first apply: it knows what remove mode took out
                # before a restart, which the apply must not add back.
                self.health = HealthControl(
                    self.report, self.work.put, removed_path=self.removed_path
                )
            # Without what remove mode took out: a reload must not add back a dead backend.
            wanted = self.health.withheld(config)
            idents = self.claim(config)
            config_apply.apply(wanted, keep_drains=True, warn=warn, done=done, wait=LOCK_WAIT)
        except ClaimedError as exc:
            self._refused(why, str(exc))
            return False
        except (BalancerError, BpfError, NetlinkError) as exc:
            waited = f"(the daemon waited {LOCK_WAIT:g} s for it: run 'l4lb reload' again)"
            self._refused(why, f"could not apply {self.path}: {exc}".replace(CLI_WAIT_HINT, waited))
            return False
        except Exception as exc:  # a reload must never take the daemon down
            self._refused(why, f"could not apply {self.path}: {type(exc).__name__}: {exc}")
            return False
        for line in health_changes(self.config, config):
            done(line)  # said and counted as the data plane's changes are
        self.config = config
        self.claims.keep_only(idents)
        if not made:
            self.report(f"{why}: nothing to change: the balancers are as configured")
        assert self.health is not None
        try:
            self.health.configure(config)
        except Exception as exc:  # the data plane is applied: say so, run on
            self.report(f"{why}: health checks not reconfigured: {type(exc).__name__}: {exc}")
            events.note("daemon", f"health checks not reconfigured: {exc}")
        self._unpublished = True
        self._answer(
            True,
            f"applied {self.path}: "
            + (counted(len(made), "change") if made else "nothing to change"),
            tuple(left_out),
        )
        return True

    def claim(self, config: Config) -> set[str]:
        """Claim the config's balancers (ClaimedError if another daemon
        manages one); their identities.  One whose interface cannot be found
        yet is claimed by the first apply that finds it."""
        wanted = {}
        for spec in config.balancers:
            try:
                wanted[config_apply.balancer_of(spec).pin_dir.name] = spec.where
            except (BalancerError, BpfError, NetlinkError):
                continue  # the apply says why it cannot reach it
        self.claims.take(wanted)
        return set(wanted)

    def _refused(self, why: str, line: str) -> None:
        self.report(f"{why}: {line}")
        events.note("daemon", f"config refused: {line}")
        self._answer(False, line)

    def _answer(self, ok: bool, line: str, warnings: tuple[str, ...] = ()) -> None:
        """What `l4lb reload` waits for."""
        found = answer.Answer(os.getpid(), self.applies, ok, line, warnings)
        answer.write(found, self.answer_path)
        self.applies += 1

    def publish(self, force: bool = False) -> None:
        """The health state for the console (RUN_DIR/health.json), at most
        once every PUBLISH_EVERY seconds unless forced."""
        mono = time.monotonic()
        if not (force or (self._unpublished and mono - self._published_at >= PUBLISH_EVERY)):
            return
        entries = self.health.entries(time.time(), mono) if self.health else ()
        status = health_status.DaemonStatus(
            time.time(), os.getpid(), str(self.path.resolve()), entries
        )
        health_status.write(status, self.status_path)
        self._published_at, self._unpublished = mono, False

    def scrape(self) -> str:
        """The metrics text: every configured balancer, read afresh."""
        config = self.config
        samples = []
        unread = []
        for spec in config.balancers if config else ():
            # One balancer that cannot be read (its namespace gone, detached)
            # is l4lb_balancer_up 0, never a failed scrape of all of them.
            try:
                bal = config_apply.balancer_of(spec)
                if bal.is_loaded():
                    state, counters = bal.state(), bal.counters()
                    health = self.published.get((spec.interface, spec.netns), {})
                    ns = spec.netns or ""
                    samples.append(metrics.BalancerSample(state, counters, health, ns))
                    continue
            except (BalancerError, BpfError, NetlinkError, OSError):
                pass
            unread.append((spec.interface, spec.netns or ""))
        bgp = self.bgp.metrics()
        return metrics.render(samples, unread) + bgp + generate_latest(self.registry).decode()

    def serve_metrics(self, listen: str, announce: bool = True) -> None:
        """Serve metrics at `listen`.  A reload that names another address
        moves the endpoint; if the new one cannot be had, the old one stays
        (and the daemon says so) rather than leave no metrics."""
        if self.server is not None and listen == self.listening:
            return
        try:
            server = http.serve(listen, self.scrape)
        except http.MetricsServerError as exc:
            if self.server is None:
                raise
            # The same port on another address of this host: free it first.
            self.close_metrics()
            try:
                server = http.serve(listen, self.scrape)
            except http.MetricsServerError:
                self.server = http.serve(self.listening, self.scrape)
                self.report(f"reload: {exc}; metrics stay on http://{self.listening}/metrics")
                return
        self.close_metrics()
        self.server, self.listening = server, listen
        if announce:
            self.report(f"serving metrics on http://{listen}/metrics")

    def close_metrics(self) -> None:
        """Stop serving metrics and free the address (if serving)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def on_results(self, results: tuple[ProbeResult, ...]) -> None:
        assert self.health is not None and self.latency is not None
        for r in results:
            self.latency.labels(*self.health.labels(r.key.service), r.target.value).observe(
                r.latency
            )
        self.health.results(results)
        self.published = self.health.service_health()
        self._unpublished = True

    # -- life --------------------------------------------------------------

    def _signal(self, signum: int, _frame: FrameType | None) -> None:
        jobs = {signal.SIGHUP: "reload", signal.SIGUSR1: "announce"}
        self.work.put(jobs.get(signal.Signals(signum), "stop"))

    def watch_flows(self) -> None:
        balancers = self.config.balancers if self.config else ()
        self.flows.tick((b.where, config_apply.balancer_of(b)) for b in balancers)

    def announce(self, now: bool = False) -> None:
        self.bgp.tick(self.config, self.published, now)

    def run(self) -> int:
        try:
            return self._run()
        finally:
            self.claims.release_all()

    def _run(self) -> int:
        with pidfile.held():
            for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
                signal.signal(sig, self._signal)
            config = self.read("start")
            if config is None:
                return 2
            config = self._renamed(config)
            # Before anything is served or changed: another daemon's balancer
            # is refused whole (ClaimedError, one line from the CLI).
            self.claim(config)
            self.bgp.prepare(config)
            # The endpoint first: an address it cannot have stops the start
            # before the data plane is touched.
            self.serve_metrics(config.metrics_listen, announce=False)
            if not self.apply("start", config):
                return 2
            self.report(f"serving metrics on http://{self.listening}/metrics")
            self.bgp.sync(self.config)
            notify.notify("READY=1")
            try:
                return self._loop()
            finally:
                notify.notify("STOPPING=1")
                self.bgp.stop()
                if self.health is not None:
                    self.health.stop()
                self.close_metrics()
                health_status.remove(self.status_path)
                answer.remove(self.answer_path)
                self.report("stopped; the data plane keeps running as it was")
                events.note("daemon", "stopped; the data plane keeps running as it was")

    def _renamed(self, config: Config) -> Config:
        """At start, a link renamed since is followed, as the running daemon does."""
        config, said = follow.renamed(config)
        for line in said:
            self.report(line)
            events.note("daemon", line)
        return config

    def _loop(self) -> int:
        self._guarded("publish", lambda: self.publish(force=True))
        while True:
            try:
                job = self.work.get(timeout=TICK)
            except queue.Empty:
                self._guarded("publish", self.publish)
                self._guarded("announce", self.announce)
                self._guarded("flow table watch", self.watch_flows)
                if self.health is not None:
                    self._guarded("health results", self.health.tick)
                continue
            if job == "stop":
                return 0
            self._guarded("publish", self.publish)
            self._guarded(job if isinstance(job, str) else "health results", partial(self._do, job))
            # Health results arrive more often than TICK, so a queue that is
            # never quiet must not stop the watch: it keeps its own clock.
            self._guarded("flow table watch", self.watch_flows)

    def _guarded(self, what: str, step: Callable[[], None]) -> None:
        """Run one step of the loop; whatever it raises (out of descriptors,
        say) is one journal line and the daemon runs on: the next tick or
        the next results try again."""
        try:
            step()
        except Exception as exc:
            if what not in self._failing:  # once, not once a tick
                self._failing.add(what)
                self.report(f"{what} failed (tried again): {type(exc).__name__}: {exc}")
            return
        if what in self._failing:
            self._failing.discard(what)
            self.report(f"{what} works again")

    def _do(self, job: Job) -> None:
        if isinstance(job, tuple):
            self.on_results(job)
            self.announce()
            return
        if job == "announce":
            self.announce(now=True)
        if job == "reload":
            notify.notify("RELOADING=1")
            if self.apply("reload") and self.config is not None:
                try:
                    self.serve_metrics(self.config.metrics_listen)
                except http.MetricsServerError as exc:  # the old one lost too
                    self.report(f"reload: no metrics endpoint: {exc}")
            self.bgp.sync(self.config)
            self.announce(now=True)
            notify.notify(f"READY=1\nMONOTONIC_USEC={int(time.monotonic() * 1e6)}")


def _interface_of(line: str, config: Config) -> str:
    """The configured interface an apply's line is about ("" if none)."""
    words = line.replace(":", " ").split()
    return next((b.interface for b in config.balancers if b.interface in words), "")
