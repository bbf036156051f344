"""`l4lb`: the command line.  Thin: parses arguments and calls the layers below.

Every failure the operator can cause or meet prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from l4lb_tui import layout as L
from l4lb_tui.balancer import DEFAULT_SADDR, MODES, Balancer, BalancerError, Counters
from l4lb_tui.bpf import BpfError
from l4lb_tui.destinations import (
    Destination,
    DestinationError,
    parse_text,
    read_destinations,
    read_text,
    validate_ip,
    validate_mac,
    validate_weight,
)
from l4lb_tui.lab.errors import LabError
from l4lb_tui.netlink import NetlinkError, enter_netns
from l4lb_tui.privilege import privilege_problem
from l4lb_tui.services import parse_service
from l4lb_tui.slots import DEFAULT_RING_SIZE, FillMode
from l4lb_tui.stats import build_view, render_json, render_text

EXIT_ERROR = 2


class CliError(Exception):
    pass


def need_root(what: str) -> None:
    problem = privilege_problem(what, "run it with sudo")
    if problem:
        raise CliError(problem)


def _service_list(specs: Sequence[str]) -> list[L.ServiceKey]:
    keys: list[L.ServiceKey] = []
    for spec in specs:
        try:
            keys += parse_service(spec)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    return keys


def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


def cmd_attach(args: argparse.Namespace) -> int:
    need_root("l4lb attach")
    bal = Balancer(args.interface, wait=args.wait)
    print(bal.attach(args.mode, args.saddr, warn=_warn))
    if not bal.link().admin_up:
        print(
            f"warning: {args.interface} is down: no traffic arrives until "
            f"'ip link set dev {args.interface} up'",
            file=sys.stderr,
        )
    return 0


def cmd_detach(args: argparse.Namespace) -> int:
    need_root("l4lb detach")
    print(Balancer(args.interface, wait=args.wait).detach())
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    services = _service_list(args.vip)
    dests = read_destinations(Path(args.file), capacity=L.MAX_BACKENDS)
    need_root("l4lb map")
    bal = Balancer(args.interface, wait=args.wait)
    print(f"Loading file with {len(dests)} destinations")
    if args.saddr:
        bal.attach(bal.state().mode or "driver", args.saddr)
    mode = FillMode(args.fill) if args.fill else None
    result = bal.load(services, dests, mode=mode, ring_size=args.ring_size)
    if result.catch_all and not args.vip:
        print(
            "warning: no --vip given: balancing ALL TCP and UDP traffic arriving on "
            f"{args.interface} (the seed's catch-all behaviour); name services with "
            "--vip ADDR[:PORT][/tcp|udp] to balance only those",
            file=sys.stderr,
        )
    for key in result.services:
        print(
            f"service {key}: {result.destinations} backends, "
            f"{result.ring_size} slots ({result.mode})"
        )
    return 0


def _one_service(spec: str) -> list[L.ServiceKey]:
    return [L.CATCH_ALL] if spec in {"*", "all"} else _service_list([spec])


def cmd_backend(args: argparse.Namespace) -> int:
    keys = _one_service(args.vip)
    try:
        ip = validate_ip(args.ip)
        mac = validate_mac(args.mac) if getattr(args, "mac", None) else None
        weight = validate_weight(str(args.weight)) if args.weight is not None else None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    need_root(f"l4lb backend {args.action}")
    bal = Balancer(args.interface, wait=args.wait)
    for key in keys:
        if args.action == "add":
            mac = mac or bal.netlink.neighbour_mac(ip)
            if mac is None:
                raise CliError(f"no --mac given and {ip} is not in the neighbour table")
            bal.add_backend(key, Destination(ip, mac, 1 if weight is None else weight))
        elif args.action == "remove":
            bal.remove_backend(key, ip)
        elif args.action == "weight":
            if weight is None:
                raise CliError("give the new weight with --weight")
            bal.set_weight(key, ip, weight)
        else:
            bal.set_drain(key, ip, args.action == "drain")
        print(f"service {key}: {args.action} {ip}: done")
    return 0


def cmd_service_del(args: argparse.Namespace) -> int:
    keys = _one_service(args.vip)
    need_root("l4lb service del")
    bal = Balancer(args.interface, wait=args.wait)
    for key in keys:
        bal.remove_service(key)
        print(f"service {key}: removed")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a destinations file; needs no privilege."""
    path = Path(args.file)
    result = parse_text(read_text(path))
    for err in result.errors:
        print(f"{path}: {err}", file=sys.stderr)
    if result.errors:
        return EXIT_ERROR
    if not result.destinations:
        raise DestinationError(f"{path}: no destinations in file")
    print(f"{path}: {len(result.destinations)} destinations, no errors")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    need_root("l4lb stats")
    bal = Balancer(args.interface, wait=args.wait)
    prev: Counters | None = bal.counters()
    while True:
        time.sleep(args.interval)
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

    code: int = run_console(args.interface)
    return code


# Command groups imported only when named (or for help and errors): the demo
# and the lab pull in http.client and more, ~20-30 ms of every command's
# start-up otherwise.
_GROUPS = ("l4lb_tui.lab.cli", "l4lb_tui.demo", "l4lb_tui.bench")
_GLOBAL_WITH_VALUE = {"--wait", "--netns"}


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
    parser = argparse.ArgumentParser(
        prog="l4lb", description="XDP layer-4 load balancer: attach, load backends, watch."
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="if another l4lb is changing the interface, wait this long for it",
    )
    parser.add_argument(
        "--netns",
        metavar="NAME",
        help="run inside this network namespace (keeps the host's bpffs, unlike ip netns exec)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func)
        return p

    p = add("attach", cmd_attach, "load the balancer and attach it to an interface")
    p.add_argument("-i", "--interface", required=True)
    p.add_argument("--mode", choices=MODES, default="driver")
    p.add_argument("-s", "--saddr", help=f"outer IPIP source address (default {DEFAULT_SADDR})")

    p = add("detach", cmd_detach, "detach the balancer and remove its pins")
    p.add_argument("-i", "--interface", required=True)

    p = add("map", cmd_map, "load a destinations CSV (IP, MAC[, WEIGHT]) into the balancer")
    p.add_argument("-i", "--interface", required=True)
    p.add_argument("-f", "--file", required=True)
    p.add_argument("-s", "--saddr", help="outer IPIP source address")
    p.add_argument(
        "--vip",
        action="append",
        default=[],
        metavar="ADDR[:PORT][/tcp|udp]",
        help="service to balance (repeatable); without it, all TCP/UDP is balanced",
    )
    p.add_argument(
        "--fill",
        choices=[m.value for m in FillMode],
        help="slot fill: maglev (consistent hashing, the default) or the seed's roundrobin",
    )
    p.add_argument(
        "--ring-size",
        type=int,
        help=f"slots per service ring; a prime for maglev (default {DEFAULT_RING_SIZE})",
    )

    p = add("backend", cmd_backend, "add, remove, reweight or drain one backend, hitlessly")
    p.add_argument("action", choices=["add", "remove", "weight", "drain", "undrain"])
    p.add_argument("-i", "--interface", required=True)
    p.add_argument("--vip", required=True, metavar="ADDR[:PORT][/tcp|udp]|*")
    p.add_argument("--ip", required=True)
    p.add_argument("--mac", help="backend MAC (add)")
    p.add_argument("--weight", type=int, help="0-65535 (add, weight)")

    p = add("service", cmd_service_del, "remove a service (its flows pass to the kernel)")
    p.add_argument("action", choices=["del"])
    p.add_argument("-i", "--interface", required=True)
    p.add_argument("--vip", required=True, metavar="ADDR[:PORT][/tcp|udp]|*")

    p = add("check", cmd_check, "validate a destinations CSV without loading it")
    p.add_argument("file")

    p = add("stats", cmd_stats, "per-destination pkts/s and bits/s, refreshed every second")
    p.add_argument("-i", "--interface", required=True)
    p.add_argument("--once", action="store_true", help="print one sample and exit")
    p.add_argument("--json", action="store_true", help="JSON lines for scripts")
    p.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)

    p = add("tui", cmd_tui, "open the operator console")
    p.add_argument("-i", "--interface", help="open the dashboard of this interface")

    if argv is None or _command(argv) not in sub.choices:
        for module in _GROUPS:
            importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        if args.netns:
            enter_netns(args.netns)
        result: int = args.func(args)
        return result
    # These messages are complete for the operator: one line, no traceback.
    except (CliError, BpfError, BalancerError, DestinationError, NetlinkError, LabError) as exc:
        print(f"l4lb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
