"""`l4lb daemon -c FILE` (also `l4lbd`) and `l4lb reload`: wiring only."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from l4lb_tui import validation
from l4lb_tui.bgp import BirdError
from l4lb_tui.cliargs import EXIT_ERROR, MAX_WAIT
from l4lb_tui.daemon import answer, http, pidfile
from l4lb_tui.daemon.claim import ClaimedError
from l4lb_tui.daemon.runner import Daemon
from l4lb_tui.privilege import privilege_problem

DEFAULT_CONFIG = "/etc/l4lb/l4lb.toml"


def cmd_daemon(args: argparse.Namespace) -> int:
    problem = privilege_problem("l4lb daemon", "run it with sudo (or from its systemd unit)")
    if problem:
        print(f"l4lb: error: {problem}", file=sys.stderr)
        return EXIT_ERROR
    try:
        return Daemon(Path(args.config)).run()
    except (
        pidfile.DaemonRunning,
        pidfile.PidFileError,
        http.MetricsServerError,
        ClaimedError,
        BirdError,
    ) as exc:
        print(f"l4lb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def cmd_reload(args: argparse.Namespace) -> int:
    before = answer.read()
    try:
        pid = pidfile.signal_daemon(signal.SIGHUP)
    except (LookupError, PermissionError) as exc:
        print(f"l4lb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    # The daemon's start is answer 0: a reload's is the first one after
    # what stood before the signal.
    seen = before.seq if before is not None and before.pid == pid else 0
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        found = answer.read()
        if found is not None and found.pid == pid and found.seq > seen:
            if not found.ok:
                print(f"l4lb: error: the daemon refused it: {found.line}", file=sys.stderr)
                return EXIT_ERROR
            print(f"the daemon (PID {pid}) {found.line}")
            for line in found.warnings:
                print(f"warning: {line}", file=sys.stderr)
            return 1 if found.warnings else 0
        if pidfile.running() != pid:
            print(f"l4lb: error: the daemon (PID {pid}) ended before it answered", file=sys.stderr)
            return EXIT_ERROR
        time.sleep(0.1)
    print(
        f"l4lb: error: no answer from the daemon (PID {pid}) within {args.wait:g} s: "
        "it may still be applying (see its journal)",
        file=sys.stderr,
    )
    return EXIT_ERROR


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "daemon",
        help="keep a config applied: health checks, metrics, reload on SIGHUP",
        description="Apply a config and keep it applied: health checks, a Prometheus "
        "endpoint, `l4lb reload` (or SIGHUP) applies it again; stopping leaves the "
        "data plane as it is.",
    )
    p.add_argument(
        "-c",
        "--config",
        default=DEFAULT_CONFIG,
        type=validation.argument(validation.file_name),
        help=f"the config (default {DEFAULT_CONFIG})",
    )
    p.set_defaults(func=cmd_daemon)
    p = sub.add_parser(
        "reload",
        help="ask the running daemon to apply its config again",
        description="Ask the running daemon to read its config again and apply it (SIGHUP); "
        "wait for its answer: exit 2 with its reason if it refused the config.",
    )
    p.add_argument(
        "--wait",
        type=validation.seconds_argument("wait", 0.1, MAX_WAIT),
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the daemon's answer (default 60)",
    )
    p.set_defaults(func=cmd_reload)


def main() -> int:
    """`l4lbd [-c FILE]`: the daemon alone, as its systemd unit runs it."""
    parser = argparse.ArgumentParser(prog="l4lbd", description="the l4lb daemon")
    parser.add_argument(
        "-c", "--config", default=DEFAULT_CONFIG, type=validation.argument(validation.file_name)
    )
    return cmd_daemon(parser.parse_args())
