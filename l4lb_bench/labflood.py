"""`l4lb bench lab --generator hping3`: flood the lab with hping3 and measure
what the balancer handles (the default generator is labrate.py's; the lab
set-up here, `lab_up` and `balance`, serves both).

A lab of this run (l4lb_tui.lab, its own prefix), the balancer attached in
driver mode on the lab's balancer veth with the lab's backends for its UDP
and TCP services, then hping3 floods from the client (several processes,
random source addresses, each its own source ports) for a fixed time.
Reported over a steady window that starts once the floods run:
  * packets/s the balancer handled (its own counters);
  * run_time_ns / run_cnt of the program, with kernel.bpf_stats_enabled=1
    for the window only (the old value is put back, as bpftop does);
  * the spread over backends (max/min share, per service);
  * how many of the frames it sent reached a backend's decapsulator.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from l4lb_bench import defaults, machine, processes, sandbox
from l4lb_bench.chart import table
from l4lb_bench.errors import BenchError
from l4lb_tui import bpfsys
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.bpftool import BpfError
from l4lb_tui.destinations import read_destinations
from l4lb_tui.lab.flood import hping3_argv
from l4lb_tui.model import Counters
from l4lb_tui.services import parse_service

if TYPE_CHECKING:
    from l4lb_tui.lab import Lab

WARMUP = 1.0
STATS_SYSCTL = "kernel.bpf_stats_enabled"
_SENT = re.compile(r"(\d+) packets transmitted")


@dataclass(frozen=True, slots=True)
class Options:
    duration: float = defaults.LAB_DURATION
    sources: int = defaults.LAB_SOURCES
    backends: int = 3


@dataclass(frozen=True, slots=True)
class Share:
    service: str
    ip: str
    packets: int


@dataclass(slots=True)
class LabReport:
    options: Options
    host: machine.Host
    prefix: str
    window: float  # seconds of the steady window
    handled: int  # packets the balancer counted in the window
    tx: int  # of which balanced (sent to a backend)
    reasons: dict[str, int]
    run_cnt: int
    run_time_ns: int
    shares: list[Share]
    sent: int  # hping3's own count, whole flood
    flood_seconds: float
    decapsulated: int  # at the backends, whole flood
    balanced_total: int  # balancer TX, whole flood
    sysctl_before: str
    sysctl_after: str
    floods: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def pps(self) -> float:
        return self.handled / self.window if self.window else 0.0

    @property
    def ns_per_run(self) -> float:
        return self.run_time_ns / self.run_cnt if self.run_cnt else float("nan")


def _prefix() -> str:
    """The lab's names: `bn` + pid in hex (at most 6 digits: 8 characters)."""
    return sandbox.lab_prefix(os.getpid())


def _hping3(vip: str, ifname: str, port: int, syn: bool, sport: int) -> list[str]:
    """`lab traffic --flood`'s hping3, from its own base source port (each
    flood its own ports)."""
    return [*hping3_argv(vip, ifname, port, syn=syn), "-s", str(sport)]


@contextlib.contextmanager
def floods(ns: str, argvs: list[list[str]]) -> Iterator[list[int]]:
    """Run the floods; on exit stop them (SIGINT: hping3 then prints its count)
    and hand the packets each sent back through the yielded list."""
    procs = []
    sent: list[int] = []
    try:
        for argv in argvs:
            procs.append(
                subprocess.Popen(  # noqa: S603 - argv list, no shell
                    ["ip", "netns", "exec", ns, *argv],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                    preexec_fn=processes.die_with_parent,
                )
            )
        yield sent
    finally:
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGINT)
        for p in procs:
            try:
                out, err = p.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                out, err = p.communicate()
            m = _SENT.search(err) or _SENT.search(out)
            sent.append(int(m.group(1)) if m else 0)


def handled(a: Counters, b: Counters) -> tuple[int, dict[str, int]]:
    tx = sum(p for p, _ in b.backends.values()) - sum(p for p, _ in a.backends.values())
    reasons = {r.name: b.reasons.get(r, (0, 0))[0] - a.reasons.get(r, (0, 0))[0] for r in b.reasons}
    return tx, {k: v for k, v in reasons.items() if v}


def decapsulated(lab: Lab) -> int:
    status = lab.status()
    total = 0
    for ns in status.namespaces:
        for link in ns.links:
            if link.xdp is not None and link.xdp.decap:
                total += int(link.xdp.decap.get("decapsulated", 0))
    return total


@dataclass(slots=True)
class _Flood:
    """What was read before, during and after the floods."""

    c0: Counters  # the steady window's start and end
    c1: Counters
    i0: bpfsys.ProgInfo
    i1: bpfsys.ProgInfo
    full0: Counters  # the whole flood's
    full1: Counters
    decap0: int
    decap1: int
    sent: list[int]
    seconds: float
    sysctl_before: str
    sysctl_after: str


def run_lab(opts: Options, log: Callable[[str], None] = print) -> LabReport:
    processes.need_root("l4lb bench lab")
    try:
        from l4lb_tui.lab import Lab
    except ImportError as exc:  # pragma: no cover - the lab ships with the product
        raise BenchError(f"the lab is not available: {exc}") from None
    if opts.duration <= 0:
        raise BenchError("the flood needs a duration above 0 s")
    sandbox.reap_stale()
    lab = Lab(prefix=_prefix(), backends=opts.backends)
    with contextlib.ExitStack() as stack:
        stack.enter_context(processes.terminate_cleanly())
        lab_up(stack, lab, log)
        bal, where, prog_fd = balance(lab)
        stack.callback(os.close, prog_fd)
        argvs = [_flood_argv(lab, i) for i in range(opts.sources)]
        log(f"  flooding for {opts.duration:g} s from {opts.sources} hping3 processes")
        flood = _flood(bal, lab, prog_fd, argvs, opts.duration)
        rep = _report(opts, lab.prefix, where, flood, argvs)
        try:
            bal.detach()
        except (BalancerError, BpfError) as exc:
            rep.problems.append(f"detach: {exc}")
        return rep
    raise AssertionError("unreachable")  # pragma: no cover


def lab_up(stack: contextlib.ExitStack, lab: Lab, log: Callable[[str], None]) -> None:
    """The lab up, and taken down when the run ends, however it ends."""
    from l4lb_tui.lab import LabError

    me = os.getpid()

    def down() -> None:
        if processes.owner_only(me):
            with contextlib.suppress(LabError):
                lab.down()

    stack.callback(down)
    log(f"  lab {lab.prefix}: up")
    try:
        lab.up()
    except LabError as exc:
        raise BenchError(f"lab up: {exc}") from None


def balance(
    lab: Lab, udp_ports: tuple[int, ...] = ()
) -> tuple[Balancer, dict[int, tuple[str, str]], int]:
    """The balancer on the lab's backends: it, each backend's (service, IP)
    by index, and an fd of its program (for its run counters).  The lab's
    UDP and TCP services, and a UDP service on each of `udp_ports`."""
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    try:
        bal.attach("driver", lab.outer_saddr)
        keys = [
            *parse_service(f"{lab.vip}:{lab.udp_port}/udp"),
            *parse_service(f"{lab.vip}:{lab.http_port}/tcp"),
            *(k for port in udp_ports for k in parse_service(f"{lab.vip}:{port}/udp")),
        ]
        bal.load(keys, read_destinations(lab.csv_path))
        state = bal.state()
        prog_fd = bpfsys.obj_get(bal.prog_pin)
    except (BalancerError, BpfError, bpfsys.BpfSysError, OSError) as exc:
        raise BenchError(f"balancer in the lab: {exc}") from None
    where = {be.index: (str(svc.key), be.ip) for svc in state.services for be in svc.backends}
    return bal, where, prog_fd


def _flood_argv(lab: Lab, i: int) -> list[str]:
    """The i-th flood: UDP and SYN by turns, each its own source ports."""
    syn = i % 2 == 1
    port = lab.http_port if syn else lab.udp_port
    return _hping3(lab.vip, lab.client.ifname, port, syn, 10000 + 5000 * i)


def _flood(
    bal: Balancer, lab: Lab, prog_fd: int, argvs: list[list[str]], duration: float
) -> _Flood:
    decap0 = decapsulated(lab)
    full0 = bal.counters()
    with sandbox.sysctl(STATS_SYSCTL, "1") as before:
        start = time.monotonic()
        with floods(lab.client.ns, argvs) as sent:
            time.sleep(WARMUP)
            c0, i0 = bal.counters(), bpfsys.prog_info(prog_fd)
            time.sleep(duration)
            c1, i1 = bal.counters(), bpfsys.prog_info(prog_fd)
        flood_seconds = time.monotonic() - start
    after = sandbox.read_sysctl(STATS_SYSCTL)
    time.sleep(0.3)  # the last frames through the bridge
    full1 = bal.counters()
    decap1 = decapsulated(lab)
    return _Flood(c0, c1, i0, i1, full0, full1, decap0, decap1, sent, flood_seconds, before, after)


def _report(
    opts: Options,
    prefix: str,
    where: dict[int, tuple[str, str]],
    f: _Flood,
    argvs: list[list[str]],
) -> LabReport:
    tx, reasons = handled(f.c0, f.c1)
    per_index = {
        i: f.c1.backends.get(i, (0, 0))[0] - f.c0.backends.get(i, (0, 0))[0] for i in where
    }
    shares = [Share(where[i][0], where[i][1], n) for i, n in sorted(per_index.items())]
    total_tx, _ = handled(f.full0, f.full1)
    return LabReport(
        options=opts,
        host=machine.host(),
        prefix=prefix,
        window=f.c1.taken_at - f.c0.taken_at,
        handled=tx + sum(reasons.values()),
        tx=tx,
        reasons=reasons,
        run_cnt=f.i1.run_cnt - f.i0.run_cnt,
        run_time_ns=f.i1.run_time_ns - f.i0.run_time_ns,
        shares=shares,
        sent=sum(f.sent),
        flood_seconds=f.seconds,
        decapsulated=f.decap1 - f.decap0,
        balanced_total=total_tx,
        sysctl_before=f.sysctl_before,
        sysctl_after=f.sysctl_after,
        floods=[" ".join(a) for a in argvs],
        problems=_problems(shares, tx, reasons, f),
    )


def _problems(shares: list[Share], tx: int, reasons: dict[str, int], f: _Flood) -> list[str]:
    problems = []
    if any(s.packets == 0 for s in shares):
        problems.append("a backend received nothing")
    if tx == 0:
        problems.append("the balancer handled no packets")
    if f.sysctl_after != f.sysctl_before:
        problems.append(f"{STATS_SYSCTL} is {f.sysctl_after}, was {f.sysctl_before}")
    drops = {k: v for k, v in reasons.items() if k.startswith("DROP")}
    if drops:
        problems.append(f"drops: {drops}")
    return problems


def format_report(rep: LabReport) -> str:
    out = [
        "l4lb bench lab",
        f"  {rep.host.line()}",
        f"  lab {rep.prefix} ({rep.options.backends} backends, driver mode); "
        f"{rep.options.sources} hping3 floods for {rep.options.duration:g} s, "
        f"measured over {rep.window:.2f} s after {WARMUP:g} s of warm-up",
        *(f"    {f}" for f in rep.floods),
        "",
    ]
    rows = [
        ["packets/s handled by the balancer", f"{rep.pps:,.0f}"],
        [
            "  of which balanced (XDP_TX to a backend)",
            f"{rep.tx / rep.window:,.0f}" if rep.window else "-",
        ],
        [
            "  other verdicts",
            ", ".join(f"{k.lower()} {v:,}" for k, v in rep.reasons.items()) or "none",
        ],
        ["run_cnt in the window (bpf_stats)", f"{rep.run_cnt:,}"],
        ["run_time_ns / run_cnt", f"{rep.ns_per_run:,.1f} ns"],
        [f"{STATS_SYSCTL}", f"{rep.sysctl_before} before, 1 during, {rep.sysctl_after} after"],
        [
            "hping3 sent (whole flood)",
            f"{rep.sent:,} in {rep.flood_seconds:.1f} s ({rep.sent / rep.flood_seconds:,.0f}/s)"
            if rep.flood_seconds
            else "-",
        ],
        [
            "decapsulated at the backends / balanced (whole flood)",
            f"{rep.decapsulated:,} / {rep.balanced_total:,}"
            + (
                f" ({100 * rep.decapsulated / rep.balanced_total:.1f}%)"
                if rep.balanced_total
                else ""
            ),
        ],
    ]
    out.append(table(["measure", "value"], rows, right={1}))
    out += ["", "spread over backends (packets in the window)"]
    by_service: dict[str, list[Share]] = {}
    for s in rep.shares:
        by_service.setdefault(s.service, []).append(s)
    srows = []
    for service, shares in by_service.items():
        total = sum(s.packets for s in shares) or 1
        lo = min(s.packets for s in shares)
        hi = max(s.packets for s in shares)
        spread = f"{hi / lo:.3f}" if lo else "inf"
        for s in shares:
            srows.append([service, s.ip, f"{s.packets:,}", f"{100 * s.packets / total:.1f}%"])
        srows.append([service, "max/min share", spread, ""])
    out.append(table(["service", "backend", "packets", "share"], srows, right={2, 3}))
    if rep.problems:
        out += ["", "problems: " + "; ".join(rep.problems)]
    return "\n".join(out)
