"""`l4lb demo`: a lab, the daemon keeping it balanced with health checks, live
traffic, a backend that fails now and then, and the console.

The console runs inside the lab's LB namespace, as an operator on that host
would run it.  Leaving it stops the traffic, the failing and the daemon
(the balancer stays as it was) and, without --keep, takes the lab down.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from l4lb_tui.abi import PROTO_TCP, PROTO_UDP, ServiceKey
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.daemon import pidfile
from l4lb_tui.destinations import read_destinations
from l4lb_tui.lab.tools import python_module, spawn_in
from l4lb_tui.lab.traffic import TRAFFIC_MODULE

# Bounded like all lab traffic: a day at most, a pause between rounds so the
# 2-core machines this runs on keep room for the console.
TRAFFIC_ARGS = ("--count", "100000000", "--duration", "86400", "--interval", "0.004")
# The IPv6 services get a lighter stream of their own: enough to show them live.
TRAFFIC6_ARGS = ("--count", "100000000", "--duration", "86400", "--interval", "0.05")
FAILING = 2  # the backend whose server stops now and then
DAEMON_START = 30.0  # seconds the daemon may take to apply the lab's config


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "demo",
        help="lab + daemon with health checks + live traffic + console, in one command",
        description=__doc__,
    )
    p.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    p.add_argument("--backends", type=int, default=3, help="number of backends (default 3)")
    p.add_argument("--prefix", default="l4lb", help="prefix of the lab's names")
    p.add_argument(
        "--fail-every",
        type=float,
        default=30.0,
        metavar="S",
        help=f"backend {FAILING}'s server stops for S/2 seconds after each S (0: never)",
    )
    p.add_argument(
        "--nodes",
        type=int,
        default=0,
        metavar="N",
        help="the scale-out demo: N nodes behind a BGP router, one killed (2-16)",
    )
    p.add_argument(
        "--kill-after",
        type=float,
        default=20.0,
        metavar="S",
        help="with --nodes: kill the last node after S seconds (0: never)",
    )
    p.add_argument("--view", choices=["tui", "stats"], default="tui", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.nodes:
        from l4lb_tui import demo_scale  # pyroute2: only when the demo runs

        return demo_scale.run(args)
    from l4lb_tui.lab import Lab  # pyroute2: only when the demo runs

    lab = Lab(prefix=args.prefix, backends=args.backends)
    print(f"demo: building lab {lab.prefix} with {args.backends} backends ...", flush=True)
    lab.up()
    traffic = traffic6 = daemon = None
    stop = threading.Event()
    failing: threading.Thread | None = None
    try:
        daemon = _start_daemon(lab)
        # However the demo ends, its traffic ends with it.
        traffic = spawn_in(
            lab.client.ns, python_module(TRAFFIC_MODULE, *TRAFFIC_ARGS), bounded=True
        )
        if daemon is not None:
            traffic6 = spawn_in(
                lab.client.ns,
                python_module(TRAFFIC_MODULE, *TRAFFIC6_ARGS, "--target", lab.vip6),
                bounded=True,
            )
        if args.fail_every > 0 and daemon is not None and args.backends >= FAILING:
            failing = _fail_now_and_then(lab, stop, args.fail_every)
            print(
                f"demo: backend {FAILING}'s server stops for {args.fail_every / 2:g} s after "
                f"every {args.fail_every:g} s: watch its traffic move (E: events)",
                flush=True,
            )
        print("demo: traffic running; opening the console (q to leave)", flush=True)
        view = ["tui", "-i", lab.lb_ifname]
        if args.view == "stats":
            view = ["stats", "-i", lab.lb_ifname]
        console = [sys.executable, "-m", "l4lb_tui.cli", "--netns", lab.lb_ns, *view]
        try:
            return subprocess.call(console)  # noqa: S603 - argv list
        except KeyboardInterrupt:
            return 0
    finally:
        stop.set()
        if failing is not None:
            failing.join()
        for proc in (traffic, traffic6, daemon):
            if proc is not None:
                proc.terminate()
                proc.wait()
        leave(lab, args.keep)


def leave(lab: Any, keep: bool) -> None:
    """The demo's lab when the operator leaves: down, or up with how to take it down."""
    if keep:
        print(f"demo: lab {lab.prefix} left up ('l4lb lab down --prefix {lab.prefix}')")
    else:
        lab.down()
        print(f"demo: lab {lab.prefix} taken down")


def _start_daemon(lab: Any) -> subprocess.Popen[str] | None:
    """The daemon on the lab's config, its journal in the lab's state
    directory; None (the balancer loaded directly) when a daemon already
    runs on this host, since there is one per host."""
    from l4lb_tui.lab.labconfig import lab_config

    if (pid := pidfile.running()) is not None:
        print(f"demo: an l4lb daemon runs already (pid {pid}): no health checks", flush=True)
        _load_directly(lab)
        return None
    cfg = lab.state_dir / "l4lb.toml"
    # Dual-stack: the IPv6 services are checked through the probe tunnel too.
    cfg.write_text(lab_config(lab, metrics=f"127.0.0.1:{_free_port()}", ipv6=True))
    with open(lab.state_dir / "daemon.log", "w") as log:
        daemon = subprocess.Popen(  # noqa: S603 - argv list
            [sys.executable, "-m", "l4lb_tui.cli", "daemon", "-c", str(cfg)],
            stdout=log, stderr=log, text=True, start_new_session=True,
        )  # fmt: skip
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    deadline = time.monotonic() + DAEMON_START
    while time.monotonic() < deadline and daemon.poll() is None:
        # Read while the daemon attaches: pins it has made but not yet
        # filled are an error now and a balancer a moment later.
        with contextlib.suppress(BalancerError):
            if bal.is_loaded() and len(bal.state().services) == 4:
                print(f"demo: the daemon balances the lab from {cfg}", flush=True)
                return daemon
        time.sleep(0.2)
    daemon.terminate()
    daemon.wait()
    raise SystemExit(f"demo: the daemon did not start: see {lab.state_dir / 'daemon.log'}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load_directly(lab: Any) -> None:
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    print(f"demo: {bal.attach('driver', lab.outer_saddr)}", flush=True)
    services = [
        ServiceKey(lab.vip, lab.http_port, PROTO_TCP),
        ServiceKey(lab.vip, lab.udp_port, PROTO_UDP),
    ]
    bal.load(services, read_destinations(lab.csv_path))


def _fail_now_and_then(lab: Any, stop: threading.Event, every: float) -> threading.Thread:
    from l4lb_tui.lab import faults
    from l4lb_tui.lab.errors import LabError

    def fail() -> None:
        with contextlib.suppress(LabError):  # the lab is going down under it
            faults.cycle(lab, FAILING, stop, healthy=every, broken=every / 2)

    thread = threading.Thread(target=fail, name="demo-failing", daemon=True)
    thread.start()
    return thread
