"""What the console shows of a running daemon, read in its poll worker: the
health state the daemon publishes (health_status.py) and whether the
running balancer still matches the config file the daemon keeps applied
(config_plan's pure planner against what the balancer holds now).

Nothing here writes; without a daemon the console gets None and shows a dash.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from l4lb_tui import config_apply, flowsize, health_status
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.bpftool import BpfError
from l4lb_tui.config_file import ConfigError, read_config
from l4lb_tui.config_model import BalancerSpec, Config
from l4lb_tui.config_plan import PlanProblem, plan_balancer, render_diff
from l4lb_tui.health_status import DaemonStatus, HealthEntry
from l4lb_tui.model import State
from l4lb_tui.netlink import NetlinkError


@dataclass(frozen=True, slots=True)
class Drift:
    """The running balancer against the daemon's config file."""

    lines: tuple[str, ...] = ()  # what `l4lb diff` would print; () when in sync
    problem: str = ""  # why it could not be told ("" when it could)

    @property
    def drifted(self) -> bool:
        return bool(self.lines)


@dataclass(frozen=True, slots=True)
class DaemonView:
    pid: int
    config: str
    stale: bool  # the daemon that wrote it is gone
    health: Mapping[tuple[str, str], HealthEntry] = field(default_factory=dict)
    drift: Drift | None = None  # None: the config does not name this interface

    @classmethod
    def of(cls, status: DaemonStatus, ifname: str, drift: Drift | None) -> DaemonView:
        return cls(status.pid, status.config, status.stale, status.lookup(ifname), drift)


def spec_for(config: Config, ifname: str, netns: str | None) -> BalancerSpec | None:
    """The config's balancer on `ifname` as this console sees it: in the
    namespace the console entered, or the only one of that name."""
    named = [b for b in config.balancers if b.interface == ifname]
    same_ns = [b for b in named if (b.netns or None) == netns]
    if same_ns:
        return same_ns[0]
    return named[0] if len(named) == 1 else None


def drift_of(spec: BalancerSpec, bal: Balancer) -> Drift:
    """The running state against `spec`: the lines `l4lb diff` would print
    (an operator's drain counts: the file does not hold it)."""
    try:
        macs = config_apply.neighbour_macs(spec, ask=False)  # the console only looks
        change = plan_balancer(spec, config_apply.running(bal), macs)
    except PlanProblem as exc:
        return Drift(problem=str(exc))
    except (BalancerError, BpfError, NetlinkError) as exc:
        return Drift(problem=f"cannot read the running state: {exc}")
    if not change.changes:
        return Drift()
    return Drift(tuple(render_diff([change])[1:]))


class DaemonWatch:
    """Reads the daemon's status, and works out the drift only when the
    config file or the balancer's lists have changed since last time."""

    def __init__(self, path: Path | None = None, netns: str | None = None) -> None:
        self.path = path
        self.netns = netns
        self._lock = threading.Lock()
        self._memo: dict[str, tuple[object, Drift | None]] = {}

    def view(self, ifname: str, bal: Balancer, state: State | None) -> DaemonView | None:
        status = health_status.read(self.path)
        if status is None:
            return None
        drift = None if state is None or status.stale else self._drift(status, ifname, bal, state)
        return DaemonView.of(status, ifname, drift)

    def flows_for(self, ifname: str) -> tuple[int, int, str] | None:
        """The flow tables (IPv4's, IPv6's) a running daemon's config gives
        `ifname`, and that config's path (None: no daemon, or its config
        names no size here; a size it leaves out is the default): a console
        attach makes those sizes, so the daemon's next reload does not
        refuse a resize."""
        status = health_status.read(self.path)
        if status is None or status.stale:
            return None
        try:
            spec = spec_for(read_config(Path(status.config)), ifname, self.netns)
        except ConfigError:
            return None
        if spec is None or not (spec.flows or spec.flows6):
            return None
        return (
            spec.flows or flowsize.DEFAULT_FLOWS,
            spec.flows6 or flowsize.DEFAULT_FLOWS6,
            status.config,
        )

    def _drift(
        self, status: DaemonStatus, ifname: str, bal: Balancer, state: State
    ) -> Drift | None:
        config = Path(status.config)
        try:
            stamp = config.stat().st_mtime_ns
        except OSError as exc:
            return Drift(problem=f"{config}: {exc.strerror}")
        # The services tuple is the same object until the balancer reloads.
        key = (status.config, stamp, state.services)
        with self._lock:
            memo = self._memo.get(ifname)
        if memo is not None and memo[0] == key:
            return memo[1]
        drift = self._work_out(config, ifname, bal)
        with self._lock:
            self._memo[ifname] = (key, drift)
        return drift

    def _work_out(self, config: Path, ifname: str, bal: Balancer) -> Drift | None:
        try:
            parsed = read_config(config)
        except ConfigError as exc:
            return Drift(problem=f"{config} has errors: {exc.lines()[0]}")
        spec = spec_for(parsed, ifname, self.netns)
        return None if spec is None else drift_of(spec, bal)
