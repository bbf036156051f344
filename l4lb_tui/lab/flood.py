"""`lab traffic --flood`: hping3 floods from the client namespace, for a set time.

Random source addresses, so a balancer hashing on the source spreads the
flood over every backend, and replies (to addresses nobody holds) go nowhere.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from l4lb_tui.lab.errors import LabError
from l4lb_tui.lab.tools import spawn_in, tool_message

MAX_DURATION = 300.0
_TRANSMITTED = re.compile(r"(\d+) packets transmitted")


@dataclass(frozen=True, slots=True)
class FloodReport:
    target: str
    duration: float
    udp_sent: int
    syn_sent: int

    def lines(self) -> list[str]:
        return [
            f"udp   {self.udp_sent} packets to {self.target} (random sources)",
            f"syn   {self.syn_sent} packets to {self.target} (random sources)",
            f"in {self.duration:.2f} s",
        ]


def hping3_argv(target: str, ifname: str, port: int, *, syn: bool) -> list[str]:
    mode = "-S" if syn else "-2"
    return ["hping3", target, "-I", ifname, "--rand-source", "--flood", "-q", mode,
            "-p", str(port)]  # fmt: skip


def flood(
    ns: str,
    ifname: str,
    target: str,
    udp_port: int,
    tcp_port: int,
    duration: float,
    check: Callable[[], None] = lambda: None,
) -> FloodReport:
    """`check` is called as the flood runs; what it raises ends the flood
    (and the floods with it), e.g. its caller's reader having gone."""
    if not 0 < duration <= MAX_DURATION:
        raise LabError(f"bad flood duration {duration:g}: more than 0, at most {MAX_DURATION:g} s")
    argvs = [
        hping3_argv(target, ifname, udp_port, syn=False),
        hping3_argv(target, ifname, tcp_port, syn=True),
    ]
    # However this process ends, the floods end with it.
    procs = [spawn_in(ns, argv, bounded=True) for argv in argvs]
    start = time.monotonic()
    try:
        _sleep_unless_dead(argvs, procs, duration, check)
        sent = [_stop(proc) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return FloodReport(target, time.monotonic() - start, sent[0], sent[1])


def _sleep_unless_dead(
    argvs: list[list[str]],
    procs: list[subprocess.Popen[str]],
    duration: float,
    check: Callable[[], None],
) -> None:
    """hping3 exiting early means it failed (no such interface, no raw socket)."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        check()
        for argv, proc in zip(argvs, procs, strict=True):
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise LabError(tool_message(argv, proc.returncode, out, err), tool="hping3")
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


def _stop(proc: subprocess.Popen[str]) -> int:
    """SIGINT: hping3's own way to stop, and when it prints (on stderr) what it sent."""
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    found = _TRANSMITTED.search(err) or _TRANSMITTED.search(out)
    return int(found.group(1)) if found else 0
