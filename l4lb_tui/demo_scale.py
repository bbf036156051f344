"""`l4lb demo --nodes N`: the scale-out lab (a BIRD router spreading the
VIP's flows over N nodes, each with its own daemon announcing over BGP),
live traffic from the client behind the router, the last node killed after
a while, and the console of node 1, where the traffic carries on.

Leaving the console stops the traffic and, without --keep, takes the lab
down (with every daemon and BIRD in it).
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from l4lb_tui.console_notes import NOTES_ENV, add_note
from l4lb_tui.demo import leave
from l4lb_tui.lab.errors import LabError
from l4lb_tui.lab.scaleout import ScaleLab
from l4lb_tui.lab.tools import python_module, spawn_in
from l4lb_tui.lab.traffic import TRAFFIC_MODULE

# Bounded like the single-node demo's traffic: a day at most, with pauses
# that leave the two cores room for BFD, BIRD and the console.
TRAFFIC_ARGS = ("--count", "100000000", "--duration", "86400", "--interval", "0.004")
CONVERGE = 30.0  # seconds the router may take to drop the killed node


def run(args: argparse.Namespace) -> int:
    lab = ScaleLab(prefix=args.prefix, nodes=args.nodes, backends=args.backends)
    print(
        f"demo: building scale-out lab {lab.prefix}: a BGP router, {lab.nodes} nodes, "
        f"{lab.backends} backends ...",
        flush=True,
    )
    lab.up()
    print(f"demo: the router spreads {lab.vip} over {', '.join(sorted(lab.next_hops()))}")
    stop = threading.Event()
    killer: threading.Thread | None = None
    traffic = None
    said = _Said(lab.base.state_dir / "console-notes", live=args.view == "stats")
    try:
        traffic = spawn_in(
            lab.client.ns, python_module(TRAFFIC_MODULE, *TRAFFIC_ARGS), bounded=True
        )
        if args.kill_after > 0:
            killer = _kill_later(lab, stop, args.kill_after, said)
            print(
                f"demo: node n{lab.nodes} will be killed in {args.kill_after:g} s: "
                "the router drops it and traffic carries on through the others",
                flush=True,
            )
        return _console(lab, args.view, said.path)
    finally:
        stop.set()
        if killer is not None:
            killer.join()
        said.again()
        if traffic is not None:
            traffic.terminate()
            traffic.wait()
        leave(lab, args.keep)


class _Said:
    """What the demo says while node 1's console runs: printed at once under
    `--view stats` (a stream), else a notification in the console (which
    owns the terminal) and printed again once it is left."""

    def __init__(self, path: Path, live: bool) -> None:
        self.path, self.live = path, live
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        if self.live:
            print(line, flush=True)
            return
        self.lines.append(line)
        with contextlib.suppress(OSError):  # the lab is going down under it
            add_note(self.path, line)

    def again(self) -> None:
        for line in self.lines:
            print(line, flush=True)


def _console(lab: ScaleLab, view: str, notes: Path) -> int:
    node = lab.node_list[0]
    print(
        "demo: traffic running; opening node n1's console (N: the nodes view, q to leave)",
        flush=True,
    )
    shown = ["stats", "-i", node.ifname] if view == "stats" else ["tui", "-i", node.ifname]
    argv = [sys.executable, "-m", "l4lb_tui.cli", "--netns", node.ns, *shown]
    # Node 1's run directory: its daemon, health checks and events are what
    # the console shows (t16 F12: it read this host's and said "no daemon").
    env = {**lab.node_env(1), NOTES_ENV: str(notes)}
    try:
        return subprocess.call(argv, env=env)  # noqa: S603 - argv list
    except KeyboardInterrupt:
        return 0


def _kill_later(
    lab: ScaleLab, stop: threading.Event, after: float, say: Callable[[str], None]
) -> threading.Thread:
    def kill() -> None:
        if stop.wait(after):
            return
        with contextlib.suppress(LabError):  # the lab is going down under it
            dead = lab.node_list[-1].addr
            killed = time.monotonic()
            lab.kill_node(lab.nodes)
            while dead in lab.next_hops() and not stop.is_set():
                if time.monotonic() - killed > CONVERGE:
                    return
                time.sleep(0.02)
            took = (time.monotonic() - killed) * 1000
            say(
                f"demo: killed node n{lab.nodes}; the router routes {lab.vip} to "
                f"{len(lab.next_hops())} nodes after {took:.0f} ms"
            )

    thread = threading.Thread(target=kill, name="demo-kill", daemon=True)
    thread.start()
    return thread
