"""A config's [[node]] list (pure): the nodes `l4lb apply` and `diff` reach,
each a namespace here or another host (over SSH) with, where it differs
from node to node, its own interface and tunnel source, and (a namespace
node) the run directory of the daemon that runs there (how the console's
nodes view and `l4lb node NODE` reach it).  The [[balancer]] tables say
what every node runs; a [[node]] says where.  The daemon, which runs on
one node, ignores them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from l4lb_tui import config_ssh, validation
from l4lb_tui.config_model import BalancerSpec, Config, NodeTarget

KEYS = {"netns", "host", "port", "interface", "source", "run_dir"}


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
        node = _node(r, r.table(item, f"node[{i}]", KEYS), f"node[{i}]")
        if node is None:
            continue
        twice = _listed_twice(node, found)
        if twice:
            r.problem(f"node[{i}].{'host' if node.host else 'netns'}", twice)
        else:
            found.append(node)
    if found and any(b.netns for b in balancers):
        r.problem("node", "with [[node]] each node says where it is: no netns in [[balancer]]")
    if len(balancers) > 1 and any(n.interface or n.source for n in found):
        r.problem("node", "a node's interface and source need a config with one [[balancer]]")
    return tuple(found)


def _node(r: Reader, t: dict[str, Any], path: str) -> NodeTarget | None:
    netns_text, host_text = r.text(t, path, "netns"), r.text(t, path, "host")
    if netns_text is None and host_text is None:
        r.problem(path, "a [[node]] needs its netns (here) or its host (another machine, over SSH)")
        return None
    if netns_text is not None and host_text is not None:
        r.problem(
            path, "a [[node]] is a namespace here (netns) or another machine (host), not both"
        )
        return None
    netns = (
        None
        if netns_text is None
        else r.checked(f"{path}.netns", validation.netns_name, netns_text)
    )
    host = None if host_text is None else r.checked(f"{path}.host", config_ssh.ssh_host, host_text)
    port = t.get("port")
    if port is not None and host_text is None:
        r.problem(f"{path}.port", "is only for a host node (one with host = ...): ssh's port")
        port = None
    elif port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
    ):
        r.problem(f"{path}.port", "is ssh's port of a host node: a number from 1 to 65535")
        port = None
    ifname = r.text(t, path, "interface")
    if ifname is not None:
        ifname = r.checked(f"{path}.interface", validation.ifname, ifname)
    source = r.text(t, path, "source")
    if source is not None:
        source = r.checked(f"{path}.source", validation.source_address, source)
    run_dir = r.text(t, path, "run_dir")
    if run_dir is not None and host_text is not None:
        r.problem(f"{path}.run_dir", "is for a namespace node on this host, not a host node")
        run_dir = None
    elif run_dir is not None:
        run_dir = r.checked(f"{path}.run_dir", validation.run_directory, run_dir)
    if not (netns or host):
        return None
    return NodeTarget(netns, ifname, source, run_dir=run_dir, host=host, port=port)


def _listed_twice(node: NodeTarget, found: list[NodeTarget]) -> str | None:
    if node.netns and any(n.netns == node.netns for n in found):
        return f"node {node.netns} is listed twice"
    if node.host:
        place = (config_ssh.same_host(node.host), node.port)
        if any(n.host and (config_ssh.same_host(n.host), n.port) == place for n in found):
            return f"host {node.host} is listed twice"
    return None


def for_node(config: Config, node: NodeTarget) -> Config:
    """The config as it applies to `node` alone (on a host node: no
    namespace, the host is the node)."""
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
