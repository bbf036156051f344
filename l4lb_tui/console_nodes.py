"""The console's nodes view asks this: every scale-out node's announcements,
BGP session, ring prints and packet count (`NodeSample`), and drains or
undrains one.  `HostNodes` reads the nodes this host reaches (node_find.py:
a config's [[node]]s and the scale-out labs'); a drain goes the path `l4lb
node drain` goes, since it is that command, run for the node.

The only side effects of the nodes view are here; failures are one
ConsoleError with the whole message.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.console_backend import ConsoleError
from l4lb_tui.daemon import announce_state, pidfile
from l4lb_tui.node_find import ConfigSource, NodeNotFound, NodeSpec, daemon_config, find, read_specs

ACT_TIMEOUT = 60.0  # a drain waits for the router to move traffic away
NO_RUN_DIR = "no run_dir"  # a [[node]] that does not say where its daemon keeps its files


@dataclass(frozen=True, slots=True)
class NodeSample:
    name: str
    announced: tuple[str, ...]
    session: str  # "" when no daemon answers
    drained: bool
    ring_prints: tuple[tuple[str, str], ...]  # (service, print), in key order
    packets: int | None  # all its backends' packets; None: no balancer
    problem: str = ""
    group: str = ""  # the nodes it must agree with: its lab, or the config listing it
    session6: str = ""  # its IPv6 session's state ("": none configured, or no daemon)


class NodesBackend(Protocol):
    def nodes(self) -> list[NodeSample]: ...
    def drain(self, name: str) -> str: ...
    def undrain(self, name: str) -> str: ...


class HostNodes:
    """The nodes of `config` (a [[node]] list: by default the config the
    running daemon keeps applied, read again at each poll) and of the labs;
    or exactly `specs`."""

    def __init__(
        self, specs: list[NodeSpec] | None = None, config: ConfigSource = daemon_config
    ) -> None:
        self._fixed = specs
        self._config = config

    def specs(self) -> list[NodeSpec]:
        if self._fixed is not None:
            return self._fixed
        try:
            return read_specs(self._config())
        except NodeNotFound as exc:
            raise ConsoleError(str(exc)) from None

    def nodes(self) -> list[NodeSample]:
        return [sample_node(s) for s in self.specs()]

    def drain(self, name: str) -> str:
        return self._node_command(name, "drain")

    def undrain(self, name: str) -> str:
        return self._node_command(name, "undrain")

    def _node_command(self, name: str, verb: str) -> str:
        try:
            specs = self.specs()
            spec = find(specs, name)
        except NodeNotFound as exc:
            raise ConsoleError(str(exc)) from None
        argv = [sys.executable, "-m", "l4lb_tui.cli", "node", verb]
        env = {**_env(), "L4LB_RUN_DIR": str(spec.run_dir)}
        try:
            done = subprocess.run(  # noqa: S603 - argv list
                argv, capture_output=True, text=True, env=env, timeout=ACT_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConsoleError(f"{name}: node {verb}: {exc}") from exc
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            # The CLI's prefix says nothing in a toast; a lab node's daemon is
            # started again by `lab up` (t16 F15).
            line = said[-1].removeprefix("l4lb: error: ") if said else f"node {verb} failed"
            prefix = spec.origin.removeprefix("lab ")
            if spec.origin.startswith("lab ") and "no l4lb daemon runs" in line:
                line = line.split(" (start one", 1)[0]
                count = sum(1 for s in specs if s.origin == spec.origin)
                line += f" (start it again: l4lb lab up --prefix {prefix} --nodes {count})"
            raise ConsoleError(f"{name}: {line}")
        return f"{name}: {done.stdout.strip()}"


def _env() -> dict[str, str]:
    from l4lb_tui.lab.tools import child_env

    return child_env()


def _status(run_dir: Path | None) -> tuple[announce_state.AnnounceStatus | None, str]:
    """The node daemon's announcements, or None and why not."""
    if run_dir is None:
        return None, NO_RUN_DIR
    pid = pidfile.running(run_dir / pidfile.PID_FILE.name)
    if pid is None:
        return None, "no daemon"
    status = announce_state.read(run_dir / announce_state.STATUS_FILE.name)
    # A daemon killed outright leaves its last status behind: only the
    # running daemon's counts.
    if status is None or status.pid != pid:
        return None, "no [bgp]"
    return status, ""


def sample_node(spec: NodeSpec) -> NodeSample:
    status, problem = _status(spec.run_dir)
    prints: list[tuple[str, str]] = []
    packets: int | None = None
    try:
        for ifname in spec.ifnames:
            bal = Balancer(ifname, netns=spec.netns)
            if bal.is_loaded():
                prints += [(str(k), p) for k, p in bal.state().ring_prints]
                packets = (packets or 0) + sum(p for p, _ in bal.counters().backends.values())
    except BalancerError as exc:
        problem = str(exc)
    return NodeSample(
        name=spec.name,
        announced=tuple(status.announced) if status else (),
        session=status.session if status else "",
        drained=status.drained if status else False,
        ring_prints=tuple(prints),
        packets=packets,
        problem=problem,
        group=spec.origin,
        session6=status.session6 if status else "",
    )
