"""`l4lb node drain | undrain | status`: this host's BGP announcements, as
the running daemon makes them (wiring only: the daemon does the work)."""

from __future__ import annotations

import argparse
import json
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from l4lb_tui import validation
from l4lb_tui.cliargs import CliError, need_root
from l4lb_tui.daemon import announce_state, pidfile
from l4lb_tui.daemon.announce_state import AnnounceStatus

DEFAULT_TIMEOUT = 30.0


def _announcing_daemon() -> int:
    pid = pidfile.running()
    if pid is None:
        raise CliError("no l4lb daemon runs (start one with 'l4lb daemon -c FILE')")
    status = announce_state.read()
    if status is None or status.pid != pid:
        raise CliError(f"the daemon (PID {pid}) announces nothing: its config has no [bgp]")
    return pid


def _wait(pid: int, done: Callable[[AnnounceStatus], bool], timeout: float) -> AnnounceStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = announce_state.read()
        if status is not None and status.pid == pid and done(status):
            return status
        if pidfile.running() != pid:
            raise CliError(f"the daemon (PID {pid}) ended before it was done")
        if time.monotonic() > deadline:
            raise CliError(
                f"not done after {timeout:g} s: "
                + (f"announcing {status.announced}, " if status else "")
                + ("traffic still arrives here" if status and status.drained else "see its log")
            )
        time.sleep(0.1)


def cmd_drain(args: argparse.Namespace) -> int:
    need_root("l4lb node drain")
    pid = _announcing_daemon()
    before = announce_state.read()
    announce_state.DRAIN_FILE.parent.mkdir(parents=True, exist_ok=True)
    announce_state.DRAIN_FILE.touch()
    pidfile.signal_daemon(signal.SIGUSR1)
    status = _wait(pid, lambda s: s.drained and not s.announced and s.moved, args.timeout)
    gone = ", ".join(before.announced) if before and before.announced else "nothing"
    print(
        f"drained: withdrew {gone}; no traffic here {status.quiet_after:.1f} s after "
        "the withdrawal (stays drained across restarts until 'l4lb node undrain')"
    )
    return 0


def cmd_undrain(args: argparse.Namespace) -> int:
    need_root("l4lb node undrain")
    pid = _announcing_daemon()
    announce_state.DRAIN_FILE.unlink(missing_ok=True)
    pidfile.signal_daemon(signal.SIGUSR1)
    status = _wait(pid, lambda s: not s.drained, args.timeout)
    said = ", ".join(status.announced) or "nothing yet (no service healthy here)"
    print(f"undrained: announcing {said}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    pid = _announcing_daemon()
    status = announce_state.read()
    assert status is not None and status.pid == pid
    if args.json:
        print(json.dumps(asdict(status)))
        return 0
    print(
        f"daemon PID {pid}  session {status.session}  drained {'yes' if status.drained else 'no'}"
    )
    print(f"announcing: {', '.join(status.announced) or 'nothing'}")
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    node = sub.add_parser(
        "node",
        help="this host's BGP announcements: drain, undrain, status",
        description="Planned maintenance of a scale-out node: the running daemon withdraws "
        "(drain) or announces again (undrain) this host's VIPs to its router.",
    )
    verbs = node.add_subparsers(dest="node_command", required=True, metavar="COMMAND")
    timeout = validation.seconds_argument("timeout", 0.1, 3600)
    for name, func, text in (
        ("drain", cmd_drain, "withdraw every VIP, wait until the router sends nothing here"),
        ("undrain", cmd_undrain, "announce this host's healthy VIPs again"),
    ):
        p = verbs.add_parser(name, help=text, description=text)
        p.add_argument(
            "--timeout",
            type=timeout,
            default=DEFAULT_TIMEOUT,
            help=f"seconds to wait (default {DEFAULT_TIMEOUT:g})",
        )
        p.set_defaults(func=func)
    p = verbs.add_parser("status", help="what this host announces, and its BGP session")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)
