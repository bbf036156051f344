"""The daemon's BGP announcements: its own BIRD speaker, started as its
child (so that a daemon that dies, however it dies, takes its speaker and
so its routes with it), told which VIPs to announce on every tick.

After an operator's drain it withdraws everything and watches this host's
balancers: once no packet has arrived for QUIET seconds the router has
moved the traffic, and the status file says so for `l4lb node drain`.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from l4lb_tui import config_apply, config_bgp, events
from l4lb_tui.balancer import BalancerError
from l4lb_tui.bgp import BirdError, NodeConf, Peer, Speaker
from l4lb_tui.bgp.birdconf import Bfd, render_node
from l4lb_tui.bpftool import BpfError
from l4lb_tui.config_model import BgpSpec, Config
from l4lb_tui.daemon import announce_state
from l4lb_tui.daemon.announce_state import AnnounceStatus, Where
from l4lb_tui.metrics import ServiceHealth
from l4lb_tui.netlink import NetlinkError
from l4lb_tui.paths import RUN_DIR

QUIET = 1.0  # seconds without a packet after which a drained node is left alone
TICK_EVERY = 0.25  # seconds between looks at what to announce (unless asked now)
PEER_NAME = "uplink"
PEER_NAME6 = "uplink6"  # the IPv6 session, where [bgp] has peer6
# A speaker that answers no `show protocols` within ASK_TIMEOUT this many
# times in a row is hung (stopped, wedged): it is killed and started again,
# as a dead one is.  Its sessions are down meanwhile (BFD saw it at once).
# Only silence counts: a birdc that answers with an error (a socket not
# there yet) is no sign of a hung speaker, and restarting a healthy one
# bounces its sessions.
ASK_TIMEOUT = 3.0  # generous: two cores under load answer a birdc in well under 1 s
HUNG_AFTER = 3

Reporter = Callable[[str], None]


@dataclass
class Announcer:
    spec: BgpSpec
    report: Reporter
    drain_file: Path = field(default_factory=lambda: announce_state.DRAIN_FILE)
    status_file: Path | None = None
    announced: frozenset[str] = frozenset()
    proc: subprocess.Popen[bytes] | None = None
    held: int | None = None  # the speaker directory's lock, while the speaker runs
    _withdrawn_at: float | None = None
    _last_packets: int = -1
    _last_change: float = 0.0
    _moved: bool = False
    _published_at: float = 0.0
    _drained: bool = False  # as last published
    session: str = ""  # the BGP session's state, as last published
    session6: str = ""  # the IPv6 session's, likewise ("": none configured)
    _skipped: str | None = None  # the unannounced IPv6 VIPs' line, as last said
    _unanswered: int = 0  # `show protocols` the speaker left unanswered in a row

    @property
    def speaker(self) -> Speaker:
        where = Path(self.spec.dir) if self.spec.dir else RUN_DIR / "bgp"
        return Speaker(where, "speaker", self.spec.netns)

    def _text(self, vips: frozenset[str]) -> str:
        spec = self.spec
        conf = NodeConf(
            spec.source,
            spec.asn,
            Peer(PEER_NAME, spec.peer, spec.peer_asn),
            tuple(sorted(vips)),
            bfd=Bfd() if spec.bfd else None,
            log=str(self.speaker.log),
            peer6=Peer(PEER_NAME6, spec.peer6, spec.peer_asn) if spec.peer6 else None,
            local6=spec.source6 or "",
        )
        return render_node(conf)

    def start(self) -> None:
        """Start the speaker announcing nothing (BirdError if it cannot)."""
        if self.held is None:  # a restart keeps the claim it has
            self.held = self.speaker.hold()
        try:
            self.proc = self.speaker.start_child(self._text(frozenset()))
        except BaseException:
            self._let_go()
            raise
        also = f" and {self.spec.peer6}" if self.spec.peer6 else ""
        self.report(
            f"bgp: speaker started, peering with {self.spec.peer}{also} (AS {self.spec.peer_asn})"
        )

    def stop(self) -> None:
        """Withdraw everything, then stop the speaker."""
        if self.proc is None:
            return
        if self.announced:
            try:
                self.speaker.configure(self._text(frozenset()))
                self._said(f"withdrew {', '.join(sorted(self.announced))} (stopping)")
            except BirdError as exc:
                self.report(f"bgp: could not withdraw before stopping: {exc}")
        self.announced = frozenset()
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self._let_go()
        announce_state.remove(self.status_file)

    def _let_go(self) -> None:
        if self.held is not None:
            os.close(self.held)
            self.held = None

    def tick(self, config: Config, health: Mapping[Where, Mapping[str, ServiceHealth]]) -> None:
        """Announce what should be, now; a speaker that failed is said, not fatal."""
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            self.report(f"bgp: the speaker exited ({self.proc.returncode}); starting it again")
            if not self._restart():
                return
        skipped = config_bgp.unannounced_line(config)
        if skipped is not None and skipped != self._skipped:
            self._said(skipped)
        self._skipped = skipped
        drained = self.drain_file.exists()
        six = self.spec.peer6 is not None
        want = announce_state.wanted(config, _attached(config), health, drained, six)
        before = self.announced
        if want != self.announced:
            self._change(want, drained)
        moved = self._moved
        self._watch(config, drained)
        # The session's state costs a birdc: once a second, or at once on a change.
        now = time.monotonic()
        changed = want != before or moved != self._moved or drained != self._drained
        if changed or now - self._published_at >= 1.0:
            self._published_at, self._drained = now, drained
            self._publish(drained)

    def _restart(self) -> bool:
        self.announced, self._unanswered = frozenset(), 0
        try:
            self.start()
        except BirdError as exc:
            self.report(f"bgp: speaker not started: {exc}")
            self.proc = None
            return False
        return True

    def _hung(self, why: str) -> None:
        """Kill a speaker that stopped answering; the next tick starts it again."""
        self._said(f"the speaker did not answer {HUNG_AFTER} times ({why}): killing it")
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def _change(self, want: frozenset[str], drained: bool) -> None:
        try:
            self.speaker.configure(self._text(want))
        except BirdError as exc:
            self.report(f"bgp: could not change announcements: {exc}")
            return
        gone, new = self.announced - want, want - self.announced
        why = " (drained)" if drained else ""
        if gone:
            self._said(f"withdrew {', '.join(sorted(gone))}{why}")
        if new:
            self._said(f"announcing {', '.join(sorted(new))}")
        self.announced = want
        if drained and not want:
            self._withdrawn_at, self._moved, self._last_packets = time.monotonic(), False, -1

    def _watch(self, config: Config, drained: bool) -> None:
        """While drained: has the router stopped sending here?"""
        if not drained:
            self._withdrawn_at, self._moved = None, False
            return
        if self.announced or self._moved:
            return
        now = time.monotonic()
        if self._withdrawn_at is None:  # drained before this daemon started
            self._withdrawn_at, self._last_packets = now, -1
        packets = _packets(config)
        if packets != self._last_packets:
            self._last_packets, self._last_change = packets, now
        elif now - self._last_change >= QUIET:
            self._moved = True
            after = max(0.0, self._last_change - self._withdrawn_at)
            self._said(f"drained: no packets here {after:.1f} s after the withdrawal")

    def _sessions(self) -> tuple[str, str]:
        """The IPv4 and IPv6 sessions' states, as BIRD says them (IPv6: "" if none)."""
        try:
            found = {p.name: p for p in self.speaker.protocols(ASK_TIMEOUT)}
            self._unanswered = 0
        except BirdError as exc:
            self._unanswered = self._unanswered + 1 if exc.timed_out else 0
            if self._unanswered >= HUNG_AFTER:
                self._hung(str(exc))
            said = f"unknown: {exc}"
            return said, said if self.spec.peer6 else ""

        def state(name: str) -> str:
            p = found.get(name)
            return p.info or p.state if p else "?"

        return state(PEER_NAME), state(PEER_NAME6) if self.spec.peer6 else ""

    def _publish(self, drained: bool) -> None:
        self.session, self.session6 = self._sessions()
        quiet = (
            self._last_change - self._withdrawn_at
            if self._moved and self._withdrawn_at is not None
            else 0.0
        )
        status = AnnounceStatus(
            os.getpid(), sorted(self.announced), drained, self.session, self._moved, quiet,
            session6=self.session6,
        )  # fmt: skip
        announce_state.write(status, self.status_file)

    def metrics(self) -> str:
        """Prometheus text: the session, what is announced, the drain (read
        from what the last tick saw, never from bird during a scrape)."""
        up = int(self.session.startswith("Established"))
        up6 = int(self.session6.startswith("Established"))
        # Announced means the router hears it: not while the session of its
        # family is down or the speaker does not answer (t16 F16: 1
        # throughout a hung BIRD).
        shown = sorted(v for v in self.announced if (up6 if ":" in v else up))
        vips = "".join(f'l4lb_bgp_announced{{vip="{v}"}} 1\n' for v in shown)
        sessions = f'l4lb_bgp_session_up{{peer="{self.spec.peer}"}} {up}\n'
        if self.spec.peer6:
            sessions += f'l4lb_bgp_session_up{{peer="{self.spec.peer6}"}} {up6}\n'
        return (
            "# HELP l4lb_bgp_session_up 1 while the BGP session to the router is established\n"
            "# TYPE l4lb_bgp_session_up gauge\n"
            f"{sessions}"
            "# HELP l4lb_bgp_announced 1 for each VIP this node announces to its router\n"
            f"# TYPE l4lb_bgp_announced gauge\n{vips}"
            "# HELP l4lb_node_drained 1 while an operator has drained this node\n"
            f"# TYPE l4lb_node_drained gauge\nl4lb_node_drained {int(self._drained)}\n"
        )

    def _said(self, line: str) -> None:
        self.report(f"bgp: {line}")
        events.note("daemon", f"bgp: {line}")


@dataclass
class BgpControl:
    """What the daemon's control thread holds of BGP: the announcer the
    applied config's [bgp] asks for (none without one, or disabled)."""

    report: Reporter
    announcer: Announcer | None = None
    _ticked_at: float = 0.0

    def prepare(self, config: Config) -> None:
        """Make the speaker's directory before anything else is done at
        start (BirdError if it cannot be: the daemon refuses to start)."""
        if config.bgp is not None and config.bgp.enabled:
            Announcer(config.bgp, self.report).speaker.make_dir()

    def sync(self, config: Config | None) -> None:
        """Start, restart or stop the speaker as `config`'s [bgp] says."""
        spec = config.bgp if config else None
        if spec is not None and not spec.enabled:
            spec = None
        if self.announcer is not None and self.announcer.spec == spec:
            return
        self.stop()
        if spec is None:
            return
        announcer = Announcer(spec, self.report)
        try:
            announcer.start()
        except BirdError as exc:
            self.report(f"bgp: speaker not started, nothing announced: {exc}")
            events.note("daemon", f"bgp: speaker not started: {exc}")
            return
        self.announcer = announcer

    def tick(
        self,
        config: Config | None,
        health: Mapping[Where, Mapping[str, ServiceHealth]],
        now: bool = False,
    ) -> None:
        """The announcements brought up to date, at most every TICK_EVERY s."""
        mono = time.monotonic()
        if self.announcer is None or config is None:
            return
        if now or mono - self._ticked_at >= TICK_EVERY:
            self._ticked_at = mono
            self.announcer.tick(config, health)

    def stop(self) -> None:
        if self.announcer is not None:
            self.announcer.stop()
            self.announcer = None

    def metrics(self) -> str:
        return self.announcer.metrics() if self.announcer is not None else ""


def _attached(config: Config) -> dict[Where, bool]:
    out = {}
    for spec in config.balancers:
        try:
            bal = config_apply.balancer_of(spec)
            out[(spec.interface, spec.netns)] = bal.is_loaded() and bal.attachment_problem() is None
        except (BalancerError, BpfError, NetlinkError, OSError):
            out[(spec.interface, spec.netns)] = False
    return out


def _packets(config: Config) -> int:
    """Every packet this host's balancers balanced (any change: traffic still comes)."""
    total = 0
    for spec in config.balancers:
        try:
            bal = config_apply.balancer_of(spec)
            if bal.is_loaded():
                total += sum(p for p, _ in bal.counters().backends.values())
        except (BalancerError, BpfError, NetlinkError, OSError):
            continue
    return total
