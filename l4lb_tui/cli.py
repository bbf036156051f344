"""`l4lb`: the command line's entry point.  Thin: builds the parser from the
command groups (the balancer's own in balancer_cli.py and reading_cli.py),
runs the command.

Every failure the operator can cause or meet prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence

from l4lb_tui import balancer_cli, cliargs, reading_cli
from l4lb_tui.backend_edits import EditError
from l4lb_tui.balancer import BalancerError
from l4lb_tui.bpftool import BpfError
from l4lb_tui.cliargs import EXIT_ERROR, CliError, need_root
from l4lb_tui.destinations import DestinationError
from l4lb_tui.lab.errors import LabError
from l4lb_tui.netlink import NetlinkError, enter_netns

# Command groups imported only when named (or for help and errors): the demo
# and the lab pull in http.client and more, ~20-30 ms of every command's
# start-up otherwise.
_GROUPS = (
    "l4lb_tui.config_cli",
    "l4lb_tui.daemon.cli",
    "l4lb_tui.daemon.node_cli",
    "l4lb_tui.lab.cli",
    "l4lb_tui.demo",
    "l4lb_bench",
)
_GLOBAL_WITH_VALUE = {"--wait", "--netns"}
# Commands that change no balancer: output they lose is all they lose.
_READ_ONLY = {"check", "stats", "diff", "export"}


def _command(argv: Sequence[str]) -> str | None:
    """The command word of a command line, after the global options."""
    it = iter(argv)
    for arg in it:
        if arg in _GLOBAL_WITH_VALUE:
            next(it, None)
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the command line, without the groups it does not use."""
    parser = cliargs.OneLineParser(
        prog="l4lb", description="XDP layer-4 load balancer: attach, load backends, watch."
    )
    cliargs.global_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    balancer_cli.register(sub)
    reading_cli.register(sub)
    if argv is None or _command(argv) not in sub.choices:
        for module in _GROUPS:
            importlib.import_module(module).register(sub)
    return parser


def _run(argv: Sequence[str]) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        if args.netns is not None:
            # Entering a namespace needs root too: say that, not EPERM.
            need_root(f"l4lb --netns {args.netns}")
            enter_netns(args.netns)
        result: int = args.func(args)
        return result
    # These messages are complete for the operator: one line, no traceback.
    except (
        CliError,
        BpfError,
        BalancerError,
        DestinationError,
        EditError,
        NetlinkError,
        LabError,
    ) as exc:
        print(f"l4lb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # see l4lb_tui/__init__.py
    args = sys.argv[1:] if argv is None else argv
    return cliargs.quiet_broken_pipe(lambda: _run(args), changes=_command(args) not in _READ_ONLY)


if __name__ == "__main__":
    sys.exit(main())
