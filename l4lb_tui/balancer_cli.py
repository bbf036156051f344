"""The commands that change a balancer (attach, detach, map, backend,
service del): each one's arguments, and what it does on `Balancer`; and
`unattached`, the warning every command on a balancer ends with.  The
commands that only read are in reading_cli.py.

Every failure the operator can cause or meet raises `CliError` or an
adapter's or the control plane's own error, which `cli.py` prints as one line.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from l4lb_tui import abi, backend_edits, cleanup, cliargs, events, validation
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.cliargs import CliError, check_ring, need_root, service_keys, warn
from l4lb_tui.control.attaching import DEFAULT_SADDR, MODES
from l4lb_tui.destinations import Destination, read_destinations
from l4lb_tui.ring_fill import FillMode
from l4lb_tui.wording import counted


def unattached(bal: Balancer, said: str | None = None) -> str | None:
    """Warn of a balancer whose program was detached or replaced outside
    l4lb: its commands succeed but change nothing that traffic sees.  The
    warning given, so that stats says it once, not on every refresh.

    A link deleted while the command ran (a paused `map`) is an error: what
    it wrote went into pins no traffic reaches."""
    if not bal.link_exists():
        detach = bal.where.netns.command(f"l4lb detach -i {shlex.quote(bal.ifname)}")
        why = bal.moved_note() or (
            "it was deleted while the command ran, and what it wrote went into pins "
            f"no traffic reaches ('{detach}' removes them)"
        )
        raise BalancerError(
            f"interface {bal.ifname} no longer exists in {bal.where.netns.place}: {why}"
        )
    problem = bal.attachment_problem()
    if problem and problem != said:
        warn(problem)
    return problem


def _check_source(
    saddr: str | None, services: Sequence[abi.ServiceKey], dests: Sequence[Destination]
) -> None:
    """The balancer's source address (health probes, ICMP) must be its own:
    a VIP's or a backend's would take their replies."""
    if saddr is None:
        return
    if any(k.vip == saddr for k in services):
        raise CliError(f"-s {saddr} is a VIP of this load: the source must be the host's own")
    if any(d.ip == saddr for d in dests):
        raise CliError(f"-s {saddr} is a backend of this load: the source must be the host's own")


def _done(line: str, interface: str, **where: str) -> None:
    """What a changing command did: to the operator, and to the event log
    (which the console and the daemon's readers show)."""
    # Logged first: a failed write to stdout must not lose the record of a
    # change that was made.
    unlogged = events.note("cli", line, interface=interface, **where)
    print(line)
    if unlogged:
        warn(unlogged)


def cmd_attach(args: argparse.Namespace) -> int:
    need_root("l4lb attach")
    bal = Balancer(args.interface, wait=args.wait)
    # Only an explicit --mode switches: a re-attach for a new -s (or MAC/MTU
    # refresh) keeps the running mode, whose switch is a gap of its own.
    mode = args.mode or (bal.is_loaded() and bal.state().mode) or "driver"
    say = cliargs.SayBefore()
    done = bal.attach(
        mode, args.saddr, warn, args.flows, say=say, saddr6=args.source6, flows6=args.flows6
    )
    _done(done, bal.ifname)
    say.done()
    for said in (bal.vlan_warning(), bal.mtu6_warning()):
        if said:
            warn(said)
    if not bal.link().admin_up:
        print(
            f"warning: {args.interface} is down: no traffic arrives until "
            f"'ip link set dev {args.interface} up'",
            file=sys.stderr,
        )
    return 0


def cmd_detach(args: argparse.Namespace) -> int:
    if not args.stale and args.interface is None:
        raise CliError("detach takes -i DEV, --stale, or both (the stale pins of DEV)")
    if args.dry_run and not args.stale:
        raise CliError("--dry-run goes with --stale (it lists what --stale would remove)")
    need_root("l4lb detach")
    if args.stale:
        print("\n".join(cleanup.detach_stale(args.wait, args.dry_run, args.interface)))
    else:
        _done(cleanup.detach(args.interface, args.wait), args.interface)
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    services = service_keys(args.vip)
    dests = read_destinations(
        Path(args.file),
        capacity=abi.MAX_BACKENDS,
        services=max(1, len(services)),
        vips={k.vip for k in services},
        families=True,
    )
    check_ring(args.ring_size, args.fill, dests)
    _check_source(args.saddr, services, dests)
    need_root("l4lb map")
    bal = Balancer(args.interface, wait=args.wait)
    mode = FillMode(args.fill) if args.fill else None
    result = bal.load(services, dests, mode=mode, ring_size=args.ring_size)
    # The source after the load: a load refused (a ring size, no free slot)
    # must leave the source as it was too.
    if args.saddr:
        bal.attach(bal.state().mode or "driver", args.saddr)
    print(f"Loading file with {len(dests)} destinations")  # the seed's words, once it has
    if result.catch_all and not args.vip:
        print(
            "warning: no --vip given: balancing ALL TCP and UDP traffic arriving on "
            f"{args.interface} (the seed's catch-all behaviour); name services with "
            "--vip ADDR[:PORT][/tcp|udp] to balance only those",
            file=sys.stderr,
        )
    for key in result.services:
        _done(
            f"service {key}: {counted(result.destinations, 'backend')}, "
            f"{counted(result.ring_size, 'slot')} ({result.mode})",
            bal.ifname,
            service=str(key),
        )
    if (small := bal.mtu6_warning(result.services)) is not None:
        warn(small)
    unattached(bal)
    return 0


def _one_service(spec: str) -> list[abi.ServiceKey]:
    return [abi.CATCH_ALL] if spec in {"*", "all"} else service_keys([spec])


def _backend_inputs(args: argparse.Namespace, keys: Sequence[abi.ServiceKey]) -> None:
    """Refuse options the action does not use (ignoring them would hide a
    mistake) and a backend that is the service's own VIP."""
    if args.mac is not None and args.action != "add":
        raise CliError(f"--mac is for 'backend add', not 'backend {args.action}'")
    if args.weight is not None and args.action not in {"add", "weight"}:
        raise CliError(
            f"--weight is for 'backend add' and 'backend weight', not 'backend {args.action}'"
        )
    if args.action == "weight" and args.weight is None:
        raise CliError("give the new weight with --weight")
    for key in keys:
        if key.vip == args.ip:
            raise CliError(f"{args.ip} is the VIP of {key}: a backend cannot be the VIP itself")


def _backend_mac(bal: Balancer, ip: str, given: str | None) -> str:
    if given:
        return given
    # Before asking the network for a MAC: the refusal the load would give.
    link = bal.link()
    if own := validation.own_address_problem(ip, [*link.ipv4, *link.ipv6], bal.ifname):
        raise CliError(own)
    found = bal.neighbour_mac(ip)
    if found is None:
        asked = "neighbour discovery" if ":" in ip else "ARP"
        raise CliError(
            f"no --mac given and {ip} is not in {bal.ifname}'s neighbour table, "
            f"nor answered {asked} within 1 s: give --mac"
        )
    try:
        return validation.mac(found)
    except ValueError as exc:
        raise CliError(f"the neighbour table's MAC for {ip}: {exc}") from None


def _backend_change(args: argparse.Namespace, bal: Balancer) -> backend_edits.Change:
    ip, weight = args.ip, args.weight
    if args.action == "add":
        mac = _backend_mac(bal, ip, args.mac)
        return backend_edits.Add(Destination(ip, mac, 1 if weight is None else weight))
    if args.action == "remove":
        return backend_edits.Remove(ip)
    if args.action == "weight":
        return backend_edits.SetWeight(ip, weight)
    return backend_edits.SetDrain(ip, args.action == "drain")


def cmd_backend(args: argparse.Namespace) -> int:
    keys = _one_service(args.vip)
    _backend_inputs(args, keys)
    need_root(f"l4lb backend {args.action}")
    bal = Balancer(args.interface, wait=args.wait)
    # Every service of the spec in one step: all are checked before any changes.
    done = bal.edit(dict.fromkeys(keys, _backend_change(args, bal)))
    for key in keys:
        # Old -> new, so the event log (and the console's) says what changed.
        line = f"service {key}: {events.backend_change(args.action, args.ip, *done[key])}"
        after = done[key][1] or ()
        if args.action == "undrain" and any(d.ip == args.ip and d.down for d in after):
            line += " (still down: the health checker's, until its check passes)"
        _done(line, bal.ifname, service=str(key), backend=args.ip)
    unattached(bal)
    return 0


def cmd_service_del(args: argparse.Namespace) -> int:
    keys = _one_service(args.vip)
    need_root("l4lb service del")
    bal = Balancer(args.interface, wait=args.wait)
    bal.edit(dict.fromkeys(keys, backend_edits.DropService()))
    for key in keys:
        _done(f"service {key}: removed", bal.ifname, service=str(key))
    unattached(bal)
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """attach, detach, map, backend, service, on the `l4lb` parser's subcommands."""
    add = cliargs.command_adder(sub)
    p = add("attach", cmd_attach, "load the balancer and attach it to an interface")
    cliargs.interface_option(p)
    p.add_argument(
        "--mode",
        choices=MODES,
        help="XDP mode (default: the mode it runs in, driver for a new attach)",
    )
    cliargs.flows_option(p)
    p.add_argument(
        "-s",
        "--saddr",
        type=validation.argument(validation.source_address),
        help=f"outer IPIP source address (default {DEFAULT_SADDR})",
    )
    p.add_argument(
        "--source6",
        type=validation.argument(validation.source6_address),
        help="outer ip6ip6 source (default: kept, else the interface's first global IPv6 "
        "address at the first IPv6 load)",
    )

    p = add("detach", cmd_detach, "detach the balancer and remove its pins")
    cliargs.interface_option(p, required=False)
    p.add_argument(
        "--stale",
        action="store_true",
        help="remove the pins of every balancer whose interface or namespace is gone "
        "(with -i DEV: DEV's, in this namespace), and say what it keeps",
    )
    p.add_argument("--dry-run", action="store_true", help="with --stale: list, remove nothing")

    p = add("map", cmd_map, "load a destinations CSV (IP, MAC[, WEIGHT]) into the balancer")
    cliargs.interface_option(p)
    p.add_argument("-f", "--file", required=True, type=validation.argument(validation.file_name))
    p.add_argument(
        "-s",
        "--saddr",
        type=validation.argument(validation.source_address),
        help="outer IPIP source",
    )
    cliargs.load_options(p)

    p = add("backend", cmd_backend, "add, remove, reweight or drain one backend, hitlessly")
    p.add_argument("action", choices=["add", "remove", "weight", "drain", "undrain"])
    cliargs.interface_option(p)
    p.add_argument("--vip", required=True, metavar="ADDR[:PORT][/tcp|udp]|*")
    p.add_argument("--ip", required=True, type=validation.argument(validation.backend_ip))
    p.add_argument("--mac", type=validation.argument(validation.mac), help="backend MAC (add)")
    p.add_argument(
        "--weight", type=validation.argument(validation.weight), help="0-65535 (add, weight)"
    )

    p = add("service", cmd_service_del, "remove a service (its flows pass to the kernel)")
    p.add_argument("action", choices=["del"])
    cliargs.interface_option(p)
    p.add_argument("--vip", required=True, metavar="ADDR[:PORT][/tcp|udp]|*")
