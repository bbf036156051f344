"""A config's [[node]] list (pure): the nodes `l4lb apply` and `diff` reach,
each a namespace with, where it differs from node to node, its own
interface and tunnel source, and the run directory of the daemon that runs
there (how the console's nodes view and `l4lb node NODE` reach it).  The
[[balancer]] tables say what every node runs; a [[node]] says where.  The
daemon, which runs on one node, ignores them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from l4lb_tui import validation
from l4lb_tui.config_model import BalancerSpec, Config, NodeTarget

KEYS = {"netns", "interface", "source", "run_dir"}


class Reader(Protocol):
    def problem(self, path: str, message: str, line: int = 0) -> None: ...
    def table(self, value: object, path: str, allowed: set[str]) -> dict[str, Any]: ...
    def text(
        self, t: dict[str, Any], path: str, key: str, default: str | None = None
    ) -> str | None: ...
    def checked(self, path: str, parse: Any, value: str) -> Any: ...


def parse_nodes(r: Reader, value: object, balancers: list[BalancerSpec]) -> tuple[NodeTarget, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        r.problem("node", "must be a list of [[node]] tables")
        return ()
    found: list[NodeTarget] = []
    for i, item in enumerate(value):
        path = f"node[{i}]"
        t = r.table(item, path, KEYS)
        text = r.text(t, path, "netns")
        if text is None:
            r.problem(path, "a [[node]] needs its netns")
            continue
        netns = r.checked(f"{path}.netns", validation.netns_name, text)
        ifname = r.text(t, path, "interface")
        if ifname is not None:
            ifname = r.checked(f"{path}.interface", validation.ifname, ifname)
        source = r.text(t, path, "source")
        if source is not None:
            source = r.checked(f"{path}.source", validation.source_address, source)
        run_dir = r.text(t, path, "run_dir")
        if run_dir is not None:
            run_dir = r.checked(f"{path}.run_dir", validation.run_directory, run_dir)
        if netns and any(n.netns == netns for n in found):
            r.problem(f"{path}.netns", f"node {netns} is listed twice")
        elif netns:
            found.append(NodeTarget(netns, ifname, source, run_dir))
    if found and any(b.netns for b in balancers):
        r.problem("node", "with [[node]] each node gives the namespace: no netns in [[balancer]]")
    if len(balancers) > 1 and any(n.interface or n.source for n in found):
        r.problem("node", "a node's interface and source need a config with one [[balancer]]")
    return tuple(found)


def for_node(config: Config, node: NodeTarget) -> Config:
    """The config as it applies to `node` alone."""
    placed = tuple(
        replace(
            b,
            netns=node.netns,
            interface=node.interface or b.interface,
            source=node.source or b.source,
        )
        for b in config.balancers
    )
    return replace(config, balancers=placed, nodes=())
