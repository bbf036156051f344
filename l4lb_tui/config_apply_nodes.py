"""`l4lb apply` and `diff` on a config with [[node]]s: the config applied to
each node in turn (a namespace here, or a host over SSH:
config_apply_hosts), every line said with its node's name.  A node that fails
does not stop the others (a change half-rolled out is worse than one that
reached every node it could); the failures are raised together at the end,
naming the nodes, so the command exits 2 and says which."""

from __future__ import annotations

from collections.abc import Callable

from l4lb_tui import config_apply_hosts
from l4lb_tui.balancer import BalancerError
from l4lb_tui.config_model import Config, NodeTarget
from l4lb_tui.config_nodes import for_node

Report = Callable[[str], None]
ApplyOne = Callable[[Config, bool, Report | None, Report | None], list[str]]
DiffOne = Callable[[Config], tuple[list[str], list[str]]]


def _prefixed(node: str, report: Report | None) -> Report | None:
    if report is None:
        return None
    return lambda line: report(f"{node}: {line}")


def apply_nodes(
    config: Config, apply_one: ApplyOne, keep_drains: bool, warn: Report | None, done: Report | None
) -> list[str]:
    made: list[str] = []
    failed: list[tuple[str, str]] = []
    for node in config.nodes:
        name = node.name
        said, made_here = _prefixed(name, warn), _prefixed(name, done)
        try:
            if node.host:
                lines = config_apply_hosts.apply_host(
                    node, for_node(config, node), config.ssh, said, made_here
                )
            else:
                lines = apply_one(for_node(config, node), keep_drains, said, made_here)
        except BalancerError as exc:
            failed.append((name, str(exc)))
            if warn is not None:
                warn(f"{name}: FAILED: {exc}")
            continue
        if lines and lines[0].startswith("nothing to change"):
            lines = ["nothing to change"]
            if done is not None:
                done(f"{name}: nothing to change")
        made += [f"{name}: {line}" for line in lines]
    if failed:
        names = ", ".join(n for n, _ in failed)
        total = len(config.nodes)
        raise BalancerError(
            f"apply failed on {len(failed)} of {total} nodes ({names}): {failed[0][1]}"
            + ("" if len(failed) == total else "; the other nodes were applied")
        )
    return made


def diff_nodes(config: Config, diff_one: DiffOne) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    refused: list[str] = []
    for node in config.nodes:
        try:
            said, no = _diff_node(config, node, diff_one)
        except BalancerError as exc:
            refused.append(f"{node.name}: {exc}")
            continue
        lines += [f"{node.name}: {line}" for line in said]
        refused += [f"{node.name}: {line}" for line in no]
    return lines, refused


def _diff_node(config: Config, node: NodeTarget, diff_one: DiffOne) -> tuple[list[str], list[str]]:
    if node.host:
        return config_apply_hosts.diff_host(node, for_node(config, node), config.ssh)
    return diff_one(for_node(config, node))
