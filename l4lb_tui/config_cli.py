"""`l4lb apply`, `diff` and `export`: the declarative config on the command
line (argparse wiring and output; the work is config_apply's)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from l4lb_tui import config_apply, config_bgp, events, filewrite, validation
from l4lb_tui.cliargs import EXIT_ERROR, CliError, need_root
from l4lb_tui.config_file import ConfigError, parse_config, read_config
from l4lb_tui.config_model import Config
from l4lb_tui.wording import counted

STDIN = "-"


def _config(path: str) -> Config:
    try:
        if path == STDIN:
            # How `apply` reaches a host node: the config comes over ssh.
            try:
                text = sys.stdin.buffer.read().decode()
            except UnicodeDecodeError:
                raise CliError("<stdin>: the config is not UTF-8 text") from None
            return parse_config(text, Path("<stdin>"), base=Path.cwd())
        return read_config(Path(path))
    except ConfigError as exc:
        for line in exc.lines()[1:]:
            print(f"l4lb: error: {line}", file=sys.stderr)
        raise CliError(exc.lines()[0]) from None


def _need_root_here(config: Config, what: str) -> None:
    """Root, unless every node is another host's (reached over ssh, as the
    operator's own user and keys: the remote l4lb runs as root there)."""
    if not config.nodes or any(n.netns for n in config.nodes):
        need_root(what)


def cmd_apply(args: argparse.Namespace) -> int:
    config = _config(args.file)
    _need_root_here(config, "l4lb apply")
    left_out = False

    def warn(line: str) -> None:
        nonlocal left_out
        left_out = left_out or "LEFT OUT" in line
        print(f"warning: {line}", file=sys.stderr, flush=True)
        events.note("cli", f"apply {args.file}: {line}")

    def done(line: str) -> None:
        # Printed and logged as each change is made: if a later one fails,
        # what is already changed has been said.
        print(line, flush=True)
        events.note("cli", f"apply {args.file}: {line}")

    lines = config_apply.apply(config, warn=warn, done=done)
    if lines and lines[0].startswith("nothing to change"):
        print(lines[0])
    return 1 if left_out else 0


def cmd_diff(args: argparse.Namespace) -> int:
    config = _config(args.file)
    _need_root_here(config, "l4lb diff")
    lines, refused = config_apply.diff(config)
    if lines:  # every node failing leaves nothing to show, not an empty line
        print("\n".join(lines), flush=True)
    if (skipped := config_bgp.unannounced_line(config)) is not None:
        print(f"note: {skipped}", file=sys.stderr, flush=True)
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise CliError(f"apply would refuse this: {refused[0]}{more}")
    return 1 if args.exit_code and any(not line.endswith("as configured") for line in lines) else 0


def cmd_export(args: argparse.Namespace) -> int:
    need_root("l4lb export")
    text, count, unread = config_apply.export_running()
    if args.output:
        try:
            target = filewrite.replace_text(Path(args.output), text + "\n")
        except filewrite.WriteError as exc:
            raise CliError(str(exc)) from None
        link = filewrite.through_link(Path(args.output), target)
        print(f"{target}: {counted(count, 'balancer')}{link}")
    else:
        print(text)
    for line in unread:  # a live balancer left out: the file is not the whole truth
        print(f"l4lb export: not exported: {line}", file=sys.stderr)
    return 1 if unread else 0


def check_config(path: Path) -> int:
    """`l4lb check FILE.toml`: every error, with its line and key."""
    try:
        config = read_config(path)
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_ERROR
    services = sum(len(s.keys) for b in config.balancers for s in b.services)
    backends = sum(len(s.backends) for b in config.balancers for s in b.services)
    print(
        f"{path}: {counted(len(config.balancers), 'balancer')}, "
        f"{counted(services, 'service')}, {counted(backends, 'backend')}, no errors"
    )
    if (skipped := config_bgp.unannounced_line(config)) is not None:
        print(f"note: {skipped}")
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    file_arg = validation.argument(validation.file_name)
    p = sub.add_parser(
        "apply",
        help="make the running balancers match a config file, hitlessly",
        description="Make the running balancers match a config file, hitlessly; "
        "prints what it changed.",
    )
    p.add_argument(
        "-f", "--file", required=True, type=file_arg, help="the config (TOML); - reads stdin"
    )
    p.set_defaults(func=cmd_apply)
    p = sub.add_parser(
        "diff",
        help="what apply would change, changing nothing",
        description="Print what `l4lb apply -f FILE` would change; change nothing.",
    )
    p.add_argument(
        "-f", "--file", required=True, type=file_arg, help="the config (TOML); - reads stdin"
    )
    p.add_argument(
        "--exit-code", action="store_true", help="exit 1 if anything would change, as git diff"
    )
    p.set_defaults(func=cmd_diff)
    p = sub.add_parser(
        "export",
        help="print the running balancers as a config apply reproduces",
        description="Print the running balancers as a config that `l4lb apply` reproduces.",
    )
    p.add_argument("-o", "--output", type=file_arg, help="write it to this file")
    p.set_defaults(func=cmd_export)
