"""The console's nodes view asks this: every scale-out node's announcements,
BGP session, ring prints and packet count (`NodeSample`), and drains or
undrains one.  `LabNodes` reads the scale-out labs on this host (each
node's daemon run directory in /run/l4lb/lab-P/nN/); a drain goes the path
`l4lb node drain` goes, since it is that command, run for the node.

The only side effects of the nodes view are here; failures are one
ConsoleError with the whole message.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.console_backend import ConsoleError
from l4lb_tui.daemon import announce_state, pidfile

ACT_TIMEOUT = 60.0  # a drain waits for the router to move traffic away


@dataclass(frozen=True, slots=True)
class NodeSpec:
    name: str  # as the operator knows it: the lab's nN, or the config's
    netns: str
    ifname: str
    run_dir: Path  # the node daemon's L4LB_RUN_DIR


@dataclass(frozen=True, slots=True)
class NodeSample:
    name: str
    announced: tuple[str, ...]
    session: str  # "" when no daemon answers
    drained: bool
    ring_prints: tuple[tuple[str, str], ...]  # (service, print), in key order
    packets: int | None  # all its backends' packets; None: no balancer
    problem: str = ""


class NodesBackend(Protocol):
    def nodes(self) -> list[NodeSample]: ...
    def drain(self, name: str) -> str: ...
    def undrain(self, name: str) -> str: ...


def lab_specs(root: Path | None = None) -> list[NodeSpec]:
    """Every node of the scale-out labs under `root` (the labs' state root)."""
    from l4lb_tui.lab.names import STATE_ROOT

    base = root or STATE_ROOT
    found = []
    for node_dir in sorted(base.glob("lab-*/n*")):
        prefix = node_dir.parent.name.removeprefix("lab-")
        if not re.fullmatch(r"n\d+", node_dir.name) or not (node_dir / "l4lb.toml").exists():
            continue
        ns = f"{prefix}-{node_dir.name}"
        found.append(NodeSpec(ns, ns, f"{ns}0", node_dir))
    return found


class LabNodes:
    def __init__(self, specs: list[NodeSpec] | None = None) -> None:
        self._fixed = specs

    def specs(self) -> list[NodeSpec]:
        return self._fixed if self._fixed is not None else lab_specs()

    def nodes(self) -> list[NodeSample]:
        return [sample_node(s) for s in self.specs()]

    def drain(self, name: str) -> str:
        return self._node_command(name, "drain")

    def undrain(self, name: str) -> str:
        return self._node_command(name, "undrain")

    def _node_command(self, name: str, verb: str) -> str:
        spec = next((s for s in self.specs() if s.name == name), None)
        if spec is None:
            raise ConsoleError(f"no node {name}")
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
            raise ConsoleError(f"{name}: {said[-1] if said else f'node {verb} failed'}")
        return f"{name}: {done.stdout.strip()}"


def _env() -> dict[str, str]:
    from l4lb_tui.lab.tools import child_env

    return child_env()


def sample_node(spec: NodeSpec) -> NodeSample:
    status = announce_state.read(spec.run_dir / announce_state.STATUS_FILE.name)
    # A daemon killed outright leaves its last status behind: only the
    # running daemon's counts.
    if status is not None and pidfile.running(spec.run_dir / "daemon.pid") != status.pid:
        status = None
    prints: tuple[tuple[str, str], ...] = ()
    packets: int | None = None
    problem = "" if status is not None else "no daemon"
    try:
        bal = Balancer(spec.ifname, netns=spec.netns)
        if bal.is_loaded():
            prints = tuple((str(k), p) for k, p in bal.state().ring_prints)
            packets = sum(p for p, _ in bal.counters().backends.values())
    except BalancerError as exc:
        problem = str(exc)
    return NodeSample(
        name=spec.name,
        announced=tuple(status.announced) if status else (),
        session=status.session if status else "",
        drained=status.drained if status else False,
        ring_prints=prints,
        packets=packets,
        problem=problem,
    )
