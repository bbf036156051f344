"""`l4lb bench lab` with the live-frames generator: packets per second per
core through the balancer, against the MAC-swap reflector on the same path.

The lab of this run (its own prefix, l4lb_tui.lab), the balancer attached in
driver mode on the lab's balancer veth.  The generator (labgen) sends UDP
from the client's veth to a service of the VIP on a port no backend listens
on (the backends' kernels drop what they decapsulate, instead of the lab's
echo servers answering every packet), cycling through `flows` source ports.
The path: client veth -> bridge -> balancer veth -> XDP -> XDP_TX -> bridge
-> a backend (balancer) or back to the client (reflector).

Every veth on the path runs threaded NAPI (napi.py), so the balancer veth's
receive work has a thread of its own, pinned to one CPU, whose run time is
the core the balancer used.  Rounds alternate the balancer's program and
bench_refl (swapped on the veth with `bpftool net attach ... overwrite`);
each reads, over a steady window: packets the attached program ran on
(bpf_stats run_cnt), its run time, and the run time of each thread.
Medians over the rounds; the ratio is the balancer's per-packet thread time
over the reflector's.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from l4lb_bench import labflood, labgen, machine, napi, processes, sandbox, vethstats
from l4lb_bench.errors import BenchError
from l4lb_bench.labflood import STATS_SYSCTL, Share
from l4lb_tui import bpfsys
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.bpftool import BpfError, Bpftool
from l4lb_tui.model import Counters
from l4lb_tui.paths import bpf_object

if TYPE_CHECKING:
    from l4lb_tui.lab import Lab

FLOOD_PORT = 9009  # a UDP service of the VIP that no backend listens on
SETTLE = 0.5  # seconds after a program swap before the window opens
LB, REFL = "balancer", "reflector"
PATH = ("client veth", "balancer veth", "balancer's peer")  # NAPI threads, one CPU
THREADS = ("generator", *PATH)
# The lab's bridge passes IPv4 through iptables when br_netfilter is loaded:
# a cost of the host, not of the path.  Off in this run's switch only.
_BRIDGE_NF = {f"net.bridge.bridge-nf-call-{t}": "0" for t in ("iptables", "ip6tables", "arptables")}


@dataclass(frozen=True, slots=True)
class Options:
    duration: float  # seconds of each round's window
    rounds: int
    flows: int
    backends: int = 3


@dataclass(frozen=True, slots=True)
class Round:
    program: str
    window: float
    run_cnt: int
    run_time_ns: int
    sent: int  # by the generator in the window
    thread_ns: dict[str, int]  # THREADS -> run time in the window
    lost: dict[str, int] = field(default_factory=dict)  # vethstats.WHERE -> frames

    @property
    def pps(self) -> float:
        return self.run_cnt / self.window if self.window else 0.0

    @property
    def ns_per_packet(self) -> float:
        """Run time of the balancer veth's thread per packet."""
        return self.thread_ns["balancer veth"] / self.run_cnt if self.run_cnt else float("nan")

    @property
    def pps_per_core(self) -> float:
        ns = self.ns_per_packet
        return 1e9 / ns if ns == ns and ns > 0 else 0.0

    def busy(self, thread: str) -> float:
        return self.thread_ns[thread] / (self.window * 1e9) if self.window else 0.0


@dataclass(slots=True)
class LiveReport:
    options: Options
    host: machine.Host
    prefix: str
    cpus: tuple[int, int]  # (generator, balancer veth thread)
    rounds: list[Round]
    tx: int  # balanced in the balancer's windows
    reasons: dict[str, int]
    shares: list[Share]
    decapsulated: int
    sysctl_before: str
    sysctl_after: str
    machine_busy: float  # both CPUs over every window, 0..1
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def of(self, program: str) -> list[Round]:
        return [r for r in self.rounds if r.program == program]

    def median(self, program: str, value: Callable[[Round], float]) -> float:
        vals = [value(r) for r in self.of(program)]
        return statistics.median(vals) if vals else float("nan")


def run_live(opts: Options, log: Callable[[str], None] = print) -> LiveReport:
    processes.need_root("l4lb bench lab")
    from l4lb_tui.lab import Lab

    if opts.duration <= 0 or opts.rounds < 1:
        raise BenchError("the flood needs a duration above 0 s and at least one round")
    cpus = _cpus()
    sandbox.reap_stale()
    lab = Lab(prefix=sandbox.lab_prefix(os.getpid()), backends=opts.backends)
    with contextlib.ExitStack() as stack:
        stack.enter_context(processes.terminate_cleanly())
        labflood.lab_up(stack, lab, log)
        bal, where, lb_fd = labflood.balance(lab, (FLOOD_PORT,))
        stack.callback(os.close, lb_fd)
        area = stack.enter_context(sandbox.pin_area())
        refl_pin, refl_fd = _reflector(area)
        stack.callback(os.close, refl_fd)
        pids = _threads(lab, cpus[1])
        frame = _template(lab)
        log(f"  {opts.rounds} rounds of balancer and reflector, {opts.duration:g} s each")
        attach = {
            LB: lambda: _attach(lab, bal.prog_pin),
            REFL: lambda: _attach(lab, refl_pin),
        }
        fds = {LB: lb_fd, REFL: refl_fd}
        # Stopped before the balancer is detached: it ends its rounds attached.
        with labgen.generator(
            area, lab.client.ns, lab.client.ifname, frame, opts.flows, cpus[0]
        ) as gen:
            rep = _measure(opts, lab, bal, where, gen, attach, fds, pids)
        rep.cpus = cpus
        rep.problems = problems(rep)
        try:
            bal.detach()
        except (BalancerError, BpfError) as exc:
            rep.problems.append(f"detach: {exc}")
        return rep
    raise AssertionError("unreachable")  # pragma: no cover


def _template(lab: Lab) -> bytes:
    from l4lb_tui.lab import LabError, topology

    try:
        macs = (
            topology.link_mac(lab.client.ns, lab.client.ifname),
            topology.link_mac(lab.lb_ns, lab.lb_ifname),
        )
    except LabError as exc:
        raise BenchError(f"lab links: {exc}") from None
    return labgen.template(lab.client.addr, lab.vip, FLOOD_PORT, *macs)


def _cpus() -> tuple[int, int]:
    """The generator on one CPU, the path's NAPI threads on another."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        raise BenchError("the lab flood needs two CPUs (generator and balancer)")
    return allowed[0], allowed[-1]


def _reflector(area: Path) -> tuple[Path, int]:
    """bench_refl (the first program of bench_refl.o), pinned to attach by path."""
    pin = area / "lab-refl"
    try:
        Bpftool().run(["prog", "load", str(bpf_object("bench_refl.o")), str(pin), "type", "xdp"])
        return pin, bpfsys.obj_get(pin)
    except (BpfError, bpfsys.BpfSysError) as exc:
        raise BenchError(f"loading the reflector: {exc}") from None


def _attach(lab: Lab, pin: Path) -> None:
    try:
        Bpftool(netns=lab.lb_ns).net_attach("driver", pin, lab.lb_ifname, overwrite=True)
    except BpfError as exc:
        raise BenchError(f"attaching {pin.name} to {lab.lb_ifname}: {exc}") from None


def _threads(lab: Lab, lb_cpu: int) -> dict[str, int]:
    """Threaded NAPI on the path's veths: the client's bridge port (which
    needs an XDP program to receive XDP frames at all), the balancer's veth
    and its bridge-side peer.  All three on the CPU the generator leaves
    alone: the path has one core, the generator the other."""
    from l4lb_tui.lab import LabError, topology, xdp

    sw = lab.switch_ns
    try:
        xdp.attach(sw, lab.client.port, xdp.PASS_OBJ, None, xdp.PASS_PROG)
        with contextlib.suppress(LabError):  # no br_netfilter: nothing to turn off
            topology.write_sysctls(sw, _BRIDGE_NF)
    except LabError as exc:
        raise BenchError(f"lab path: {exc}") from None
    pids = {
        "client veth": napi.make_threaded(sw, lab.client.port),
        "balancer veth": napi.make_threaded(lab.lb_ns, lab.lb_ifname),
        "balancer's peer": napi.make_threaded(sw, lab.balancer.port),
    }
    for pid in pids.values():
        napi.pin(pid, lb_cpu)
    return pids


@dataclass(frozen=True, slots=True)
class _Reading:
    at: float
    run_cnt: int
    run_time_ns: int
    sent: int
    thread_ns: dict[str, int]
    cpu_busy: tuple[int, int]  # /proc/stat: busy and total ticks, every CPU


def _read(prog_fd: int, gen: labgen.Generator, pids: dict[str, int]) -> _Reading:
    info = bpfsys.prog_info(prog_fd)
    s = gen.sample()
    ns = {name: napi.run_ns(pid) for name, pid in pids.items()}
    ns["generator"] = s.run_ns
    return _Reading(time.monotonic(), info.run_cnt, info.run_time_ns, s.sent, ns, _stat())


def _stat() -> tuple[int, int]:
    """Busy and total ticks of every CPU since boot (the first line of /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def _round(program: str, a: _Reading, b: _Reading, lost: dict[str, int]) -> Round:
    return Round(
        program=program,
        window=b.at - a.at,
        run_cnt=b.run_cnt - a.run_cnt,
        run_time_ns=b.run_time_ns - a.run_time_ns,
        sent=b.sent - a.sent,
        thread_ns={t: b.thread_ns[t] - a.thread_ns[t] for t in THREADS},
        lost=lost,
    )


def _measure(
    opts: Options,
    lab: Lab,
    bal: Balancer,
    where: dict[int, tuple[str, str]],
    gen: labgen.Generator,
    attach: dict[str, Callable[[], None]],
    fds: dict[str, int],
    pids: dict[str, int],
) -> LiveReport:
    """Interleaved rounds (the order flips each round, so neither program
    always follows the other), bpf_stats on for them only."""
    rounds: list[Round] = []
    busy = [0, 0]
    windows: list[tuple[Counters, Counters]] = []
    decap0 = labflood.decapsulated(lab)

    def lost() -> dict[str, int]:
        return vethstats.read(
            (lab.client.ns, lab.client.ifname),
            (lab.switch_ns, lab.balancer.port),
            (lab.lb_ns, lab.lb_ifname),
        )

    with sandbox.sysctl(STATS_SYSCTL, "1") as sysctl_before:
        for i in range(opts.rounds):
            for program in (LB, REFL) if i % 2 == 0 else (REFL, LB):
                attach[program]()
                time.sleep(SETTLE)
                c0 = bal.counters() if program == LB else None
                l0 = lost()  # read outside the window: they run tools
                a = _read(fds[program], gen, pids)
                time.sleep(opts.duration)
                b = _read(fds[program], gen, pids)
                l1 = lost()
                if c0 is not None:
                    windows.append((c0, bal.counters()))
                rounds.append(_round(program, a, b, vethstats.delta(l0, l1)))
                busy[0] += b.cpu_busy[0] - a.cpu_busy[0]
                busy[1] += b.cpu_busy[1] - a.cpu_busy[1]
    sysctl_after = sandbox.read_sysctl(STATS_SYSCTL)
    attach[LB]()
    time.sleep(0.3)  # the last frames through the bridge
    tx, reasons, shares = _balanced(windows, where)
    return LiveReport(
        options=opts,
        host=machine.host(),
        prefix=lab.prefix,
        cpus=(0, 0),
        rounds=rounds,
        tx=tx,
        reasons=reasons,
        shares=shares,
        decapsulated=labflood.decapsulated(lab) - decap0,
        sysctl_before=sysctl_before,
        sysctl_after=sysctl_after,
        machine_busy=busy[0] / busy[1] if busy[1] else 0.0,
    )


def _balanced(
    windows: list[tuple[Counters, Counters]], where: dict[int, tuple[str, str]]
) -> tuple[int, dict[str, int], list[Share]]:
    """The balancer's counters over its windows: balanced, other verdicts, shares."""
    tx = 0
    reasons: dict[str, int] = {}
    per_index = dict.fromkeys(where, 0)
    for c0, c1 in windows:
        n, why = labflood.handled(c0, c1)
        tx += n
        for k, v in why.items():
            reasons[k] = reasons.get(k, 0) + v
        for i in where:
            per_index[i] += c1.backends.get(i, (0, 0))[0] - c0.backends.get(i, (0, 0))[0]
    shares = [Share(where[i][0], where[i][1], n) for i, n in sorted(per_index.items())]
    return tx, reasons, shares


def problems(rep: LiveReport) -> list[str]:
    found = []
    for i, r in enumerate(rep.rounds):
        if r.run_cnt == 0:
            found.append(f"the {r.program} ran on no packets (window {i + 1})")
    if rep.tx == 0:
        found.append("the balancer balanced nothing")
    flooded = [s for s in rep.shares if s.service.endswith(f":{FLOOD_PORT}/udp")]
    if any(s.packets == 0 for s in flooded):
        found.append("a backend received nothing")
    if rep.decapsulated == 0:
        found.append("nothing reached a backend's decapsulator")
    drops = {k: v for k, v in rep.reasons.items() if k.startswith("DROP")}
    if drops:
        found.append(f"drops: {drops}")
    if rep.sysctl_after != rep.sysctl_before:
        found.append(f"{STATS_SYSCTL} is {rep.sysctl_after}, was {rep.sysctl_before}")
    return found
