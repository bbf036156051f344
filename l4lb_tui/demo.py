"""`l4lb demo`: a lab, the balancer on it, live traffic, and the console.

The console runs inside the lab's LB namespace, as an operator on that host
would run it.  Leaving it stops the traffic and, without --keep, takes the
lab down again.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

from l4lb_tui.abi import PROTO_TCP, PROTO_UDP, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import read_destinations
from l4lb_tui.lab.tools import python_module, spawn_in
from l4lb_tui.lab.traffic import TRAFFIC_MODULE

# Bounded like all lab traffic: a day at most, a pause between rounds so the
# 2-core machines this runs on keep room for the console.
TRAFFIC_ARGS = ("--count", "100000000", "--duration", "86400", "--interval", "0.004")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "demo",
        help="lab + balancer + live traffic + console, in one command",
        description=__doc__,
    )
    p.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    p.add_argument("--backends", type=int, default=3, help="number of backends (default 3)")
    p.add_argument("--prefix", default="l4lb", help="prefix of the lab's names")
    p.add_argument("--view", choices=["tui", "stats"], default="tui", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from l4lb_tui.lab import Lab  # pyroute2: only when the demo runs

    lab = Lab(prefix=args.prefix, backends=args.backends)
    print(f"demo: building lab {lab.prefix} with {args.backends} backends ...", flush=True)
    lab.up()
    traffic = None
    try:
        bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
        print(f"demo: {bal.attach('driver', lab.outer_saddr)}", flush=True)
        services = [
            ServiceKey(lab.vip, lab.http_port, PROTO_TCP),
            ServiceKey(lab.vip, lab.udp_port, PROTO_UDP),
        ]
        dests = read_destinations(lab.csv_path)
        bal.load(services, dests)
        names = ", ".join(str(s) for s in services)
        print(f"demo: {len(dests)} backends behind {names}", flush=True)
        # However the demo ends, its traffic ends with it.
        traffic = spawn_in(
            lab.client.ns, python_module(TRAFFIC_MODULE, *TRAFFIC_ARGS), bounded=True
        )
        print("demo: traffic running; opening the console (q to leave)", flush=True)
        view = ["tui", "-i", lab.lb_ifname]
        if args.view == "stats":
            view = ["stats", "-i", lab.lb_ifname]
        console = [sys.executable, "-m", "l4lb_tui.cli", "--netns", lab.lb_ns, *view]
        try:
            code = subprocess.call(console)  # noqa: S603 - argv list
        except KeyboardInterrupt:
            code = 0
        return code
    finally:
        if traffic is not None:
            traffic.kill()
            traffic.wait()
        if args.keep:
            print(f"demo: lab {lab.prefix} left up ('l4lb lab down --prefix {lab.prefix}')")
        else:
            lab.down()
            print(f"demo: lab {lab.prefix} taken down")
