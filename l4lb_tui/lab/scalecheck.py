"""What a lab of a prefix already is, before `lab up` changes it: its shape
(one balancer, or N nodes), the processes it left outside its namespaces,
and the nodes an operator drained.

A node's namespace deleted with `ip netns del` lives on while its daemon
and BIRD run in it (they keep announcing and serving), so those processes
are found by what they were started with: every one names a file of the
lab's state directory on its command line.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import pinning, procfs
from l4lb_tui.lab import names, scalenames
from l4lb_tui.lab.errors import LabError
from l4lb_tui.netlink import namespaces


@dataclass(frozen=True, slots=True)
class Orphan:
    """A process of the lab that runs in none of its named namespaces."""

    pid: int
    command: str

    def line(self) -> str:
        return f"PID {self.pid} ({self.command}) runs outside the lab's namespaces"


def node_count(prefix: str, listed: list[str]) -> int:
    """How many scale-out nodes a lab has now (0: none, or a single-balancer lab)."""
    found = [scalenames.node_index(prefix, ns) for ns in listed]
    return max((i for i in found if i is not None), default=0)


def refuse_single_over_scale(prefix: str) -> None:
    """`lab up` without --nodes over a scale-out lab changes nothing."""
    listed = namespaces.listed()
    count = node_count(prefix, listed)
    if count or scalenames.router(prefix).ns in listed:
        raise LabError(
            f"lab {prefix} is a scale-out lab of {count} nodes: run "
            f"'l4lb lab up --prefix {prefix} --nodes {max(count, 2)}', or "
            f"'l4lb lab down --prefix {prefix}' first"
        )


def refuse_scale_over_single(prefix: str) -> None:
    """`lab up --nodes N` over a single-balancer lab changes nothing."""
    if names.balancer(prefix).ns in namespaces.listed():
        raise LabError(
            f"lab {prefix} is a single-balancer lab: run 'l4lb lab up --prefix {prefix}' "
            f"for it, or 'l4lb lab down --prefix {prefix}' first"
        )


def lab_processes(state_dir: Path) -> list[int]:
    """Every process that names a file of `state_dir` on its command line."""
    mark = f"{state_dir}{os.sep}"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if any(arg.startswith(mark) for arg in procfs.cmdline(int(entry.name))):
                found.append(int(entry.name))
    return sorted(found)


def orphans(prefix: str, state_dir: Path) -> list[Orphan]:
    """The lab's processes in no namespace of its name (one deleted under them)."""
    pattern = names.namespace_re(prefix)
    named = namespaces.pids([ns for ns in namespaces.listed() if pattern.match(ns)])
    inside = {pid for group in named.values() for pid in group}
    out = []
    for pid in lab_processes(state_dir):
        if pid not in inside:
            argv = procfs.cmdline(pid)
            out.append(Orphan(pid, " ".join(argv)[:160]))
    return out


def refuse_orphans(prefix: str, state_dir: Path) -> None:
    found = orphans(prefix, state_dir)
    if found:
        pids = ", ".join(str(o.pid) for o in found)
        raise LabError(
            f"lab {prefix}: PID {pids} of the lab run in a namespace deleted under them "
            f"(ip netns del?), so it cannot be mended: run 'l4lb lab down --prefix {prefix}', "
            "then lab up again"
        )


def drained(prefix: str, count: int) -> list[int]:
    """The nodes (from 1) whose operator drained them (`l4lb node drain`)."""
    from l4lb_tui.daemon.announce_state import DRAIN_FILE

    return [
        i
        for i in range(1, count + 1)
        if (scalenames.node_dir(prefix, i) / DRAIN_FILE.name).exists()
    ]


def dirs_beyond(prefix: str, count: int) -> list[int]:
    """Nodes past `count` that left a run directory (their namespace may be gone)."""
    found = (scalenames.node_index(prefix, f"{prefix}-{p.name}") for p in _node_dirs(prefix))
    return [i for i in found if i is not None and i > count]


def _node_dirs(prefix: str) -> list[Path]:
    state = names.state_dir(prefix)
    return [p for p in state.glob("n*") if p.is_dir()] if state.is_dir() else []


def node_pins(prefix: str, indexes: list[int]) -> list[Path]:
    """The pin dirs of these nodes' balancers (by the namespace their record names)."""
    wanted = {scalenames.node(prefix, i).ns for i in indexes}
    return sorted(p.path for p in pinning.listing() if p.record and p.record.netns in wanted)


def refuse_bfd_change(prefix: str, router_conf: Path, bfd: bool) -> None:
    """`lab up` with the other BFD setting than the lab was built with
    changes nothing: only the router would follow (its nodes' daemons keep
    their configs), leaving BFD sessions down on one side (v16 N1)."""
    try:
        text = router_conf.read_text()
    except FileNotFoundError:
        return  # no lab yet (or taken down): built now as asked
    built = "protocol bfd" in text
    if built != bfd:
        raise LabError(
            f"lab {prefix} was built with BFD {'on' if built else 'off'}: "
            f"`l4lb lab down --prefix {prefix}` first to change it"
        )


def refuse_ipv4_only(prefix: str, router_conf: Path) -> None:
    """A scale-out lab an older l4lb built without IPv6 is not made
    dual-stack in place: its running nodes' daemons keep their IPv4-only
    configs, so `lab up` would wait for IPv6 routes that never come."""
    try:
        text = router_conf.read_text()
    except FileNotFoundError:
        return
    if "protocol kernel kernel6" not in text:
        raise LabError(
            f"lab {prefix} was built without IPv6 (by an older l4lb): "
            f"`l4lb lab down --prefix {prefix}` first to build it dual-stack"
        )


def router_missing(prefix: str, router_conf: Path, alive: bool) -> list[str]:
    """What `lab status` says of a scale-out lab's router BIRD that the lab
    started (its config is there) and that no longer answers."""
    if alive or not router_conf.exists():
        return []
    count = node_count(prefix, namespaces.listed())
    return [
        f"the router's BIRD ({scalenames.router(prefix).ns}) does not answer: no node is "
        f"routed to ('l4lb lab up --prefix {prefix} --nodes {max(count, 2)}' starts it again)"
    ]
