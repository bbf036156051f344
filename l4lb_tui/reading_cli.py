"""The commands that only read (check, stats, tui): each one's arguments,
and what it does.  `check` reads a file and needs no privilege; `stats`
reads a balancer's counters; `tui` opens the console.

Every failure the operator can cause or meet raises `CliError` or an
adapter's or the control plane's own error, which `cli.py` prints as one line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from l4lb_tui import abi, cliargs, validation
from l4lb_tui.balancer import Balancer
from l4lb_tui.balancer_cli import unattached
from l4lb_tui.cliargs import EXIT_ERROR, CliError, check_ring, need_root, service_keys
from l4lb_tui.destinations import ParseResult, check_result, parse_text, read_text
from l4lb_tui.model import Counters
from l4lb_tui.ring_fill import FillMode
from l4lb_tui.stats import build_view, render_json, render_text
from l4lb_tui.wording import counted

# `check` lists every bad line; past this many the rest are only counted.
MAX_LISTED_ERRORS = 100
STATS_INTERVAL = (0.01, 3600.0)


def _list_errors(path: Path, result: ParseResult) -> None:
    for err in result.errors[:MAX_LISTED_ERRORS]:
        print(f"{path}: {err}", file=sys.stderr)
    hidden = len(result.errors) - MAX_LISTED_ERRORS
    if hidden > 0:
        print(f"{path}: ... and {hidden:,} more errors", file=sys.stderr)


def _is_config(path: Path, text: str) -> bool:
    """A config (TOML) rather than a destinations CSV: named .toml in any
    case, or with a [table] line, which no CSV line is."""
    if path.suffix.lower() == ".toml":
        return True
    return path.suffix.lower() != ".csv" and any(
        line.lstrip().startswith("[") for line in text.splitlines()
    )


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a destinations file as `map` would, without the kernel's
    state (other services' backends count too when it loads); needs no
    privilege.  A .toml file is a config: every error with its line."""
    path = Path(args.file)
    text = read_text(path)
    if _is_config(path, text):
        from l4lb_tui.config_cli import check_config

        if args.vip or args.fill or args.ring_size is not None:
            raise CliError(
                f"{path} is a config: it names its own services, fill and ring sizes "
                "(--vip, --fill and --ring-size are for a destinations CSV)"
            )
        return check_config(path)
    services = service_keys(args.vip)
    # map's family rule, so that a file check passes is one map loads.
    result = parse_text(text, {k.vip for k in services}, families=True)
    _list_errors(path, result)
    if result.errors:
        return EXIT_ERROR
    check_result(path, result, abi.MAX_BACKENDS, max(1, len(services)))
    # A new service gets Maglev, so without --fill the ring must suit it.
    check_ring(args.ring_size, args.fill or FillMode.MAGLEV.value, result.destinations)
    print(f"{path}: {counted(len(result.destinations), 'destination')}, no errors")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    need_root("l4lb stats")
    bal = Balancer(args.interface, wait=args.wait)
    prev: Counters | None = bal.counters()
    said = None
    while True:
        time.sleep(args.interval)
        said = unattached(bal, said)
        cur = bal.counters()
        view = build_view(bal.state(), prev, cur)
        if args.json:
            print(json.dumps(render_json(view)), flush=True)
        else:
            if not args.once:
                print("\033[H\033[2J", end="")
            print(render_text(view), flush=True)
        if args.once:
            return 0
        prev = cur


def cmd_tui(args: argparse.Namespace) -> int:
    from l4lb_tui.app import run_console

    code: int = run_console(
        args.interface, readonly=args.readonly, netns=args.netns, prog="l4lb", config=args.config
    )
    return code


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """check, stats, tui, on the `l4lb` parser's subcommands."""
    add = cliargs.command_adder(sub)
    p = add("check", cmd_check, "validate a destinations CSV as map would, without loading it")
    p.add_argument("file", type=validation.argument(validation.file_name))
    cliargs.load_options(p)

    p = add("stats", cmd_stats, "per-destination pkts/s and bits/s, refreshed every second")
    cliargs.interface_option(p)
    p.add_argument("--once", action="store_true", help="print one sample and exit")
    p.add_argument("--json", action="store_true", help="JSON lines for scripts")
    p.add_argument(
        "--interval", type=validation.seconds_argument("interval", *STATS_INTERVAL), default=1.0,
        help=argparse.SUPPRESS,
    )  # fmt: skip

    p = add("tui", cmd_tui, "open the operator console")
    cliargs.interface_option(p, required=False)
    p.add_argument(
        "-c", "--config", metavar="FILE", type=Path,
        help="the nodes view (N) lists this config's [[node]]s (default: the daemon's config)",
    )  # fmt: skip
    p.add_argument(
        "--readonly", action="store_true", help="watch only: no key that changes a balancer"
    )
