"""Which scale-out nodes this host can reach, for the console's nodes view
and `l4lb node ... NODE`: a config's [[node]] list (the nodes `l4lb apply`
reaches: the config the operator names, else the one the running daemon
keeps applied) and the scale-out labs' nodes (each node's daemon run
directory in /run/l4lb/lab-P/nN/).  A node is known by its namespace; one
both lists name is shown once, with the run directory either gives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from l4lb_tui import health_status
from l4lb_tui.config_file import ConfigError, read_config
from l4lb_tui.config_model import Config


class NodeNotFound(Exception):
    """A node the operator named is not known, or cannot be reached; the
    message is the whole line."""


@dataclass(frozen=True, slots=True)
class NodeSpec:
    name: str  # as the operator knows it: the node's namespace
    netns: str
    ifnames: tuple[str, ...]  # its balancers' interfaces
    run_dir: Path | None  # the node daemon's L4LB_RUN_DIR; None: not known
    origin: str = ""  # where it was found: "lab PREFIX", or the config's path


ConfigSource = Callable[[], Path | None]


def daemon_config() -> Path | None:
    """The config the daemon of this run directory keeps applied, while it runs."""
    status = health_status.read()
    if status is None or status.stale or not status.config:
        return None
    return Path(status.config)


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
        found.append(NodeSpec(ns, ns, (f"{ns}0",), node_dir, f"lab {prefix}"))
    return found


def config_specs(config: Config) -> list[NodeSpec]:
    """A config's namespace [[node]]s, each with the interfaces its balancers
    take there (a host node's balancer and daemon are on another machine:
    this host cannot read them)."""
    origin = str(config.path) if config.path else "the config"
    return [
        NodeSpec(
            n.netns,
            n.netns,
            (n.interface,) if n.interface else tuple(b.interface for b in config.balancers),
            Path(n.run_dir) if n.run_dir else None,
            origin,
        )
        for n in config.nodes
        if n.netns
    ]


def merged(listed: Sequence[NodeSpec], labs: Sequence[NodeSpec]) -> list[NodeSpec]:
    """The config's nodes in its order, then the labs' it does not list."""
    by_ns = {s.netns: s for s in labs}
    out = [
        s if s.run_dir or s.netns not in by_ns else replace(s, run_dir=by_ns[s.netns].run_dir)
        for s in listed
    ]
    named = {s.netns for s in listed}
    return out + [s for s in labs if s.netns not in named]


def read_specs(path: Path | None) -> list[NodeSpec]:
    """The nodes the config at `path` lists and the labs'; NodeNotFound
    with the config's first error when it cannot be read."""
    listed: list[NodeSpec] = []
    if path is not None:
        try:
            listed = config_specs(read_config(path))
        except ConfigError as exc:
            first = exc.lines()[0]
            raise NodeNotFound(first if str(path) in first else f"{path}: {first}") from None
    return merged(listed, lab_specs())


def host_node_problem(path: Path | None, name: str) -> str | None:
    """What to say of `name` when it is a host node of the config at
    `path` (None: it is not): its daemon is on that host, out of reach here."""
    if path is None:
        return None
    try:
        nodes = read_config(path).nodes
    except ConfigError:
        return None
    if not any(n.host == name for n in nodes):
        return None
    return f"{name} is a host node of {path}: run the node command on it (ssh {name} l4lb node ...)"


def find(specs: Sequence[NodeSpec], name: str) -> NodeSpec:
    """The node called `name`, with a daemon run directory to reach it by."""
    spec = next((s for s in specs if s.name == name), None)
    if spec is None:
        known = ", ".join(s.name for s in specs) or "none (no [[node]] in the config, no lab)"
        raise NodeNotFound(f"no node {name} (nodes known here: {known})")
    if spec.run_dir is None:
        raise NodeNotFound(
            f"node {name}: its [[node]] in {spec.origin} gives no run_dir, so its daemon "
            "cannot be reached (add run_dir = that daemon's L4LB_RUN_DIR)"
        )
    return spec
