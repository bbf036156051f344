"""`lab` subcommand: argparse wiring and terminal output, nothing else."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from dataclasses import replace
from typing import Any

from l4lb_tui import cliargs, validation
from l4lb_tui.lab.errors import LabError
from l4lb_tui.lab.flood import MAX_DURATION
from l4lb_tui.lab.names import DEFAULT_BACKENDS, DEFAULT_PREFIX, MAX_BACKENDS
from l4lb_tui.lab.traffic import DEFAULT_COUNT, DEFAULT_DURATION

EXIT_ERROR = 2
# Bounds of what `lab traffic` is asked for: beyond them a typo, not a test.
MAX_SECONDS = 3600.0
MAX_COUNT = 1_000_000


def register(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add `lab {up,down,status,traffic,break,fix}` to a CLI's subparsers; returns `lab`.

    Sets `func=run` on the parsed namespace for CLIs that dispatch that way.
    """
    lab: argparse.ArgumentParser = subparsers.add_parser(
        "lab",
        help="a network in a box: client, balancer and backends in namespaces",
        description="Build, inspect and drive a lab of network namespaces joined by a bridge.",
    )
    lab.set_defaults(func=run)
    sub = lab.add_subparsers(dest="lab_command", required=True, metavar="COMMAND")

    def with_prefix(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument(
            "--prefix",
            default=DEFAULT_PREFIX,
            help=f"prefix of every name the lab creates (default {DEFAULT_PREFIX})",
        )
        return parser

    up = with_prefix(
        sub.add_parser("up", help="create the lab (again: completes, changes nothing)")
    )
    up.add_argument(
        "--backends",
        type=validation.count_argument("backends", 1, MAX_BACKENDS),
        default=DEFAULT_BACKENDS,
        help=f"number of backends, 1-{MAX_BACKENDS} (default {DEFAULT_BACKENDS})",
    )
    _register_nodes(up)
    with_prefix(sub.add_parser("down", help="remove everything the lab made"))
    status = with_prefix(sub.add_parser("status", help="what exists now"))
    status.add_argument("--json", action="store_true", help="machine-readable output")
    _register_traffic(
        with_prefix(sub.add_parser("traffic", help="send traffic from the client to the VIP"))
    )
    _register_faults(sub, with_prefix)
    return lab


def _register_traffic(traffic: argparse.ArgumentParser) -> None:
    traffic.add_argument(
        "--flood", action="store_true", help="hping3 UDP and SYN floods instead of requests"
    )
    traffic.add_argument(
        "--duration",
        type=validation.seconds_argument("duration", 0, MAX_SECONDS),
        default=None,
        help=f"seconds (flood: default 5, at most {MAX_DURATION:g}; "
        f"requests: a limit, default {DEFAULT_DURATION:g})",
    )
    traffic.add_argument(
        "--count",
        type=validation.count_argument("count", 1, MAX_COUNT),
        default=DEFAULT_COUNT,
        help=f"UDP and HTTP requests, each (default {DEFAULT_COUNT})",
    )
    traffic.add_argument(
        "--interval",
        type=validation.seconds_argument("interval", 0, MAX_SECONDS),
        default=0.0,
        help="seconds between request rounds (default 0)",
    )
    traffic.add_argument(
        "-6", "--ipv6", action="store_true", help="requests to the IPv6 VIP (not with --flood)"
    )
    traffic.add_argument("--json", action="store_true", help="machine-readable output")


def _register_nodes(up: argparse.ArgumentParser) -> None:
    from l4lb_tui.lab.scalenames import MAX_NODES

    up.add_argument(
        "--nodes",
        type=validation.count_argument("nodes", 2, MAX_NODES),
        default=None,
        help=f"scale-out: 2-{MAX_NODES} balancer nodes behind a BGP/ECMP router "
        "(3 is a good start); without it, one balancer",
    )
    up.add_argument(
        "--no-bfd",
        action="store_true",
        help="with --nodes: no BFD, so a lost node is noticed after the BGP hold time (6 s) "
        "instead of in under a second, as with a router that lacks BFD",
    )


def _scale_up(args: argparse.Namespace) -> int:
    from l4lb_tui.lab.scaleout import ScaleLab

    lab = ScaleLab(args.prefix, args.nodes, args.backends, bfd=not args.no_bfd)
    notes = lab.up()
    print(f"destinations: {lab.base.csv_path}")
    print(f"router:       {lab.router.ns} (BIRD, socket {lab.router_speaker.sock})")
    for i, node in enumerate(lab.node_list, 1):
        print(
            f"node n{i}:      {node.ns} {node.ifname} {node.addr} (L4LB_RUN_DIR={lab.node_dir(i)})"
        )
    print(f"vip:          {lab.vip} via {', '.join(sorted(lab.next_hops()))}")
    hops6 = sorted(lab.next_hops(lab.vip6), key=ipaddress.ip_address)
    print(f"vip6:         {lab.vip6} via {', '.join(hops6) or 'nowhere'}")
    bfd = "on (100 ms x 4)" if lab.bfd else "off: a lost node waits for the hold time"
    print(f"bfd:          {bfd}")
    for note in notes:
        print(note)
    return 0


def _register_faults(sub: Any, with_prefix: Any) -> None:
    """`lab break` and `lab fix`: the faults health checks must catch."""
    from l4lb_tui.lab.names import MAX_BACKENDS

    faults = ("server", "vip", "decap")
    for name, text in (
        ("break", "break a backend: stop its servers, remove its VIP or stop its decapsulation"),
        ("fix", "undo what break did to a backend (every fault, or --how)"),
    ):
        p = with_prefix(sub.add_parser(name, help=text, description=text))
        p.add_argument(
            "--backend",
            type=validation.count_argument("backend", 1, MAX_BACKENDS),
            required=True,
            metavar="N",
            help="the backend, from 1 (be1)",
        )
        p.add_argument("--how", choices=faults, required=name == "break")


def run(args: argparse.Namespace) -> int:
    """Carry out a parsed `lab` command; 0 on success, 2 (one line on stderr) on failure."""
    try:
        return _dispatch(args)
    except LabError as exc:
        print(f"l4lb: error: lab {args.lab_command}: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _dispatch(args: argparse.Namespace) -> int:
    from l4lb_tui.lab.lab import Lab  # pyroute2: only when a lab command runs

    command: str = args.lab_command
    if command == "up" and args.nodes is not None:
        return _scale_up(args)
    if command == "up" and args.no_bfd:
        raise LabError("--no-bfd is for a scale-out lab: give --nodes N too")
    if command == "up":
        lab = Lab(args.prefix, args.backends)
        lab.up()
        print(f"destinations: {lab.csv_path}")
        print(f"namespace:    {lab.lb_ns}")
        print(f"interface:    {lab.lb_ifname}")
        print(f"vip:          {lab.vip}")
        print(f"source:       {lab.outer_saddr}")
        print(f"ipv6:         {lab.csv6_path}, vip {lab.vip6}, source {lab.outer_saddr6}")
        return 0
    if command in ("break", "fix"):
        from l4lb_tui.lab import faults

        found = faults.existing(args.prefix)
        if command == "break":
            print(faults.break_backend(found, args.backend, args.how))
        else:
            print(faults.fix_backend(found, args.backend, args.how))
        return 0
    lab = Lab(args.prefix)
    if command == "down":
        lab.down()
        print(f"lab {lab.prefix}: removed")
    elif command == "status":
        from l4lb_tui.lab import faults
        from l4lb_tui.lab.scalecheck import orphans, router_missing
        from l4lb_tui.lab.scaleout import ScaleLab

        base = lab.status()  # first: it says, in one line, that it needs root
        left = tuple(o.line() for o in orphans(lab.prefix, lab.state_dir))
        router = ScaleLab(lab.prefix).router_speaker
        gone = router_missing(lab.prefix, router.conf, router.conf.exists() and router.alive())
        status = replace(base, faults=faults.broken(args.prefix), orphans=left, missing=tuple(gone))
        print(status.to_json() if args.json else "\n".join(status.lines()))
    elif command == "traffic":
        if args.flood and args.ipv6:
            raise LabError("--flood sends IPv4 only: leave out --ipv6")
        if args.flood:
            duration = 5.0 if args.duration is None else args.duration
            report = lab.flood(duration, check=cliargs.unless_reader_gone)
            print("\n".join(report.lines()))
        else:
            duration = DEFAULT_DURATION if args.duration is None else args.duration
            traffic = lab.traffic(
                count=args.count,
                duration=duration,
                interval=args.interval,
                target=lab.vip6 if args.ipv6 else None,
                check=cliargs.unless_reader_gone,
            )
            print(traffic.to_json() if args.json else "\n".join(traffic.lines()))
    return 0
