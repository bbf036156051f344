"""`l4lb node drain | undrain | status [NODE]`: a scale-out node's BGP
announcements, as its running daemon makes them (wiring only: the daemon
does the work).  Without NODE, this host's daemon (its run directory,
L4LB_RUN_DIR); with one, the daemon of that node of the config's [[node]]
list or of a scale-out lab (node_find.py)."""

from __future__ import annotations

import argparse
import json
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from l4lb_tui import node_find, validation
from l4lb_tui.cliargs import CliError, need_root
from l4lb_tui.daemon import announce_state, pidfile
from l4lb_tui.daemon.announce_state import AnnounceStatus

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class NodeDaemon:
    """Where one node's daemon keeps the files these commands go through."""

    run_dir: Path
    name: str = ""  # the node as named on the command line ("": this host's)

    @property
    def pid_file(self) -> Path:
        return self.run_dir / pidfile.PID_FILE.name

    @property
    def status_file(self) -> Path:
        return self.run_dir / announce_state.STATUS_FILE.name

    @property
    def drain_file(self) -> Path:
        return self.run_dir / announce_state.DRAIN_FILE.name

    def said(self, text: str) -> str:
        return f"node {self.name}: {text}" if self.name else text

    def status(self) -> AnnounceStatus | None:
        return announce_state.read(self.status_file)


def _node(args: argparse.Namespace) -> NodeDaemon:
    """The daemon named: NODE, else the node `l4lb --netns NAME` names if
    one is known by that name, else this host's (its run directory)."""
    netns = getattr(args, "netns", None)
    if args.node and netns and args.node != netns:
        # Answering for NODE would silently ignore --netns (v16 N8).
        raise CliError(f"--netns {netns} and NODE {args.node} name two nodes: give one of them")
    name = args.node or netns
    if name is None:
        if args.config is not None:
            raise CliError("-c names the config a NODE is looked up in: name the node too")
        return NodeDaemon(pidfile.PID_FILE.parent)
    config = args.config if args.config is not None else node_find.daemon_config()
    try:
        specs = node_find.read_specs(config)
        if args.node is None and not any(s.name == name for s in specs):
            return NodeDaemon(pidfile.PID_FILE.parent)  # a daemon of this host run there
        spec = node_find.find(specs, name)
    except node_find.NodeNotFound as exc:
        raise CliError(node_find.host_node_problem(config, name) or str(exc)) from None
    assert spec.run_dir is not None  # find() refuses a node without one
    return NodeDaemon(spec.run_dir, spec.name)


def _announcing_daemon(node: NodeDaemon) -> int:
    pid = pidfile.running(node.pid_file)
    if pid is None:
        raise CliError(
            node.said(
                f"no l4lb daemon runs in {node.run_dir} (start one with 'l4lb daemon -c FILE')"
            )
        )
    status = node.status()
    if status is None or status.pid != pid:
        raise CliError(
            node.said(
                f"the daemon (PID {pid}) announces nothing: its config has no [bgp], or its "
                f"speaker did not start (see {_log(node)})"
            )
        )
    return pid


def _log(node: NodeDaemon) -> str:
    """Where the daemon's lines are: a lab node's file, else its journal."""
    log = node.run_dir / "daemon.log"
    return str(log) if log.is_file() else "its journal (journalctl -u l4lbd)"


def _wait(
    node: NodeDaemon,
    pid: int,
    done: Callable[[AnnounceStatus], bool],
    timeout: float,
    drained: bool,
) -> AnnounceStatus:
    """The daemon's status once `done`; a CliError if it ends, the wait
    times out, or another command undoes what this one asked (`drained`:
    whether it asked for a drain)."""
    deadline = time.monotonic() + timeout
    while True:
        status = node.status()
        if status is not None and status.pid == pid and done(status):
            return status
        if pidfile.running(node.pid_file) != pid:
            raise CliError(node.said(f"the daemon (PID {pid}) ended before it was done"))
        if node.drain_file.exists() != drained:
            verb, undone = ("drain", "undrained") if drained else ("undrain", "drained")
            raise CliError(node.said(f"{verb} cancelled: {undone} meanwhile by another command"))
        if time.monotonic() > deadline:
            parts = (
                [f"announcing {', '.join(status.announced)}"] if status and status.announced else []
            )
            parts += ["traffic still arrives here"] if status and status.drained else []
            said = ", ".join(parts) or "the daemon did not answer"
            raise CliError(node.said(f"not done after {timeout:g} s: {said} (see {_log(node)})"))
        time.sleep(0.1)


def _tell(node: NodeDaemon) -> None:
    """Have the daemon look at its drain file now."""
    try:
        pidfile.signal_daemon(signal.SIGUSR1, node.pid_file)
    except (LookupError, ProcessLookupError):
        raise CliError(node.said("the daemon ended before it was told")) from None


def cmd_drain(args: argparse.Namespace) -> int:
    need_root("l4lb node drain")
    node = _node(args)
    pid = _announcing_daemon(node)
    before = node.status()
    node.drain_file.touch()
    _tell(node)
    status = _wait(
        node, pid, lambda s: s.drained and not s.announced and s.moved, args.timeout, True
    )
    if before is not None and before.drained:
        gone = "nothing (it was drained already)"
    else:
        gone = ", ".join(before.announced) if before and before.announced else "nothing"
    print(
        f"drained: withdrew {gone}; no traffic here {status.quiet_after:.1f} s after "
        "the withdrawal (stays drained across restarts until 'l4lb node undrain')"
    )
    return 0


def cmd_undrain(args: argparse.Namespace) -> int:
    need_root("l4lb node undrain")
    node = _node(args)
    pid = _announcing_daemon(node)
    before = node.status()
    node.drain_file.unlink(missing_ok=True)
    _tell(node)
    status = _wait(node, pid, lambda s: not s.drained, args.timeout, False)
    said = ", ".join(status.announced) or "nothing yet (no service healthy here)"
    was = " (it was not drained)" if before is not None and not before.drained else ""
    print(f"undrained: announcing {said}{was}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    node = _node(args)
    pid = _announcing_daemon(node)
    status = node.status()
    assert status is not None and status.pid == pid
    if args.json:
        print(json.dumps(asdict(status)))
        return 0
    six = f"  session6 {status.session6}" if status.session6 else ""
    drained = "yes" if status.drained else "no"
    print(f"daemon PID {pid}  session {status.session}{six}  drained {drained}")
    print(f"announcing: {_announcing(status)}")
    return 0


def _announcing(status: AnnounceStatus) -> str:
    """The announced VIPs, each family's marked where its session is down."""
    if not status.announced:
        return "nothing"
    unheard = " (configured; the router does not hear it: no session)"
    parts = []
    for family, session in ((4, status.session), (6, status.session6)):
        vips = [v for v in status.announced if (":" in v) == (family == 6)]
        if vips:
            heard = session.startswith("Established")
            parts.append(", ".join(vips) + ("" if heard else unheard))
    return ", ".join(parts)


def _node_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "node",
        nargs="?",
        type=validation.argument(validation.netns_name),
        help="a node of the config's [[node]] list or of a scale-out lab, by its namespace "
        "(default: this host's daemon)",
    )
    p.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        type=Path,
        help="the config whose [[node]]s NODE is looked up in (default: the daemon's config)",
    )


def register(sub: argparse._SubParsersAction[Any]) -> None:
    node = sub.add_parser(
        "node",
        help="a scale-out node's BGP announcements: drain, undrain, status",
        description="Planned maintenance of a scale-out node: its running daemon withdraws "
        "(drain) or announces again (undrain) the node's VIPs to its router.",
    )
    verbs = node.add_subparsers(dest="node_command", required=True, metavar="COMMAND")
    timeout = validation.seconds_argument("timeout", 0.1, 3600)
    for name, func, text in (
        ("drain", cmd_drain, "withdraw every VIP, wait until the router sends nothing here"),
        ("undrain", cmd_undrain, "announce this node's healthy VIPs again"),
    ):
        p = verbs.add_parser(name, help=text, description=text)
        _node_arguments(p)
        p.add_argument(
            "--timeout",
            type=timeout,
            default=DEFAULT_TIMEOUT,
            help=f"seconds to wait (default {DEFAULT_TIMEOUT:g})",
        )
        p.set_defaults(func=func)
    p = verbs.add_parser("status", help="what the node announces, and its BGP session")
    _node_arguments(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)
