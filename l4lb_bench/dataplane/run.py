"""The run: a namespace, the programs loaded, every kind timed round by round
with its programs interleaved, each run checked."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from l4lb_bench import frames6, machine, processes, sandbox
from l4lb_bench.dataplane.checks import (
    check_flow_path,
    check_output,
    counter_delta,
    peer_xdp_packets,
)
from l4lb_bench.dataplane.packets import (
    BACKENDS,
    BACKENDS6,
    SADDR,
    SADDR6,
    SERVICES,
    SERVICES6,
    TX,
    Kind,
    kinds,
)
from l4lb_bench.dataplane.profile import profile
from l4lb_bench.dataplane.programs import (
    COST_OBJ,
    DROP,
    FLOW6_MAP,
    FLOW_MAP,
    LB,
    PROBES,
    PROGRAMS,
    REFL,
    FlowTable,
    Wrapped,
    attach_drop,
    build_objects,
    lb_maps,
    loaded_all,
    prime_probes,
    references,
    stale_object_note,
)
from l4lb_bench.dataplane.results import DataplaneReport, KindResult, Options, Series
from l4lb_bench.errors import BenchError
from l4lb_tui import bpfsys
from l4lb_tui.balancer import Balancer
from l4lb_tui.bpftool import BpfError
from l4lb_tui.netlink import namespaces
from l4lb_tui.services import parse_service

# Encapsulation adds 20 bytes: the veth pair gets room for a full 1500-byte
# frame plus the outer header, as a balancer's link must have.
BENCH_MTU = 1600


@dataclass(slots=True)
class _Bench:
    opts: Options
    bal: Balancer
    lb_fd: int
    veth: sandbox.VethPair
    ifindex: int
    wrapped: dict[tuple[str, str], Wrapped]
    flows: FlowTable | None
    flows6: FlowTable | None
    extra_stats: list[tuple[str, int]]
    log: Callable[[str], None]

    def stats_snapshot(self) -> dict[str, int]:
        """Per-index totals of the balancer's other per-CPU u64 counters
        (e.g. flow_stats: hit, new, stale, stored, untracked, reused)."""
        out: dict[str, int] = {}
        for name, fd in self.extra_stats:
            for idx, cpus in enumerate(bpfsys.array_dump(fd).values()):
                out[f"{name}[{idx}]"] = sum(int.from_bytes(v, "little") for v in cpus)
        return out

    def timed(self, kind: Kind, prog: str, series: Series) -> None:
        w = self.wrapped[(kind.name, prog)]
        repeat = self.opts.repeat
        table = self.flows6 if frames6.is_ipv6(kind.frame) else self.flows
        if prog == LB and kind.expect == TX and table is not None:
            table.clear()
            if kind.flows:
                # Every flow seen twice (marked, then stored): what is timed
                # is established flows only.
                w.restart()
                w.run(2 * kind.flows, self.ifindex, live=True)
        before = self.bal.counters() if prog == LB else None
        extra_before = self.stats_snapshot() if prog == LB else {}
        peer_before = peer_xdp_packets(self.veth.peer)
        result = w.run(repeat, self.ifindex, live=True)
        peer = peer_xdp_packets(self.veth.peer) - peer_before
        series.ns.append(result.duration_ns)
        transmits = prog == REFL or prog.startswith("+") or (prog == LB and kind.expect == TX)
        if peer != (repeat if transmits else 0):
            series.problems.append(
                f"peer received {peer:,} frames, expected {repeat if transmits else 0:,}"
            )
        if before is not None:
            backends, reasons = counter_delta(before, self.bal.counters())
            want_b = repeat if kind.expect == TX else 0
            want_r = {} if kind.expect == TX else {kind.expect: repeat}
            if backends != want_b or reasons != want_r:
                series.problems.append(
                    f"counters: backends +{backends:,} reasons {reasons} "
                    f"(expected +{want_b:,} {want_r})"
                )
            after = self.stats_snapshot()
            delta = {k: v - extra_before.get(k, 0) for k, v in after.items()}
            for key, value in delta.items():
                series.extra[key] = series.extra.get(key, 0) + value
            wrong = check_flow_path(kind, delta, repeat)
            if wrong:
                series.problems.append(wrong)


def run_dataplane(opts: Options, log: Callable[[str], None] = print) -> DataplaneReport:
    processes.need_root("l4lb bench dataplane")
    if opts.only:
        selected = [k for k in kinds() if k.name in opts.only]
    else:
        selected = [k for k in kinds() if opts.costs or not k.extra]
    unknown = set(opts.only) - {k.name for k in kinds()}
    if unknown:
        raise BenchError(f"unknown packet kind {', '.join(sorted(unknown))}")
    build_objects()
    notes = [n for n in (stale_object_note(),) if n]
    sandbox.reap_stale()
    cpu = sandbox.default_cpu() if opts.cpu is None else opts.cpu
    with contextlib.ExitStack() as stack:
        stack.enter_context(processes.terminate_cleanly())
        area = stack.enter_context(sandbox.pin_area())
        veth = stack.enter_context(sandbox.veth_namespace(mtu=BENCH_MTU))
        # From here on this thread is in the namespace: ifindexes, ethtool,
        # netlink and bpftool (a child) all answer for it, with no helper
        # processes to reach it.
        stack.enter_context(namespaces.inside(veth.ns))
        refs = stack.enter_context(references(area))
        probes = [p for p in PROBES if opts.costs and set(p.on) & {k.name for k in selected}]
        costs = stack.enter_context(loaded_all(area, COST_OBJ, {p.name: p.section for p in probes}))
        prime_probes(costs)
        attach_drop(veth, refs[DROP])
        bal = Balancer(veth.dev)
        stack.callback(_detach, bal)
        lb_fd = _load_balancer(bal, opts.flows)
        stack.callback(os.close, lb_fd)
        targets = {LB: lb_fd, **refs, **costs}
        base = [*PROGRAMS, DROP] if opts.costs else list(PROGRAMS)
        plan = {k.name: [*base, *(p.name for p in probes if k.name in p.on)] for k in selected}
        wrapped: dict[tuple[str, str], Wrapped] = {}
        for kind in selected:
            for prog in plan[kind.name]:
                tag = f"w-{kind.name}-{prog.lstrip('+')}"
                w = Wrapped(area, tag, targets[prog], kind)
                stack.callback(w.close)
                wrapped[(kind.name, prog)] = w
        flow_ids, extra = lb_maps(lb_fd)
        flows = flows6 = None
        if FLOW_MAP in flow_ids:
            flows = FlowTable(area, flow_ids[FLOW_MAP], notes)
            stack.callback(flows.close)
        if FLOW6_MAP in flow_ids:
            flows6 = FlowTable(area, flow_ids[FLOW6_MAP], notes)
            stack.callback(flows6.close)
        stack.enter_context(sandbox.pinned(cpu))
        ifindex = socket.if_nametoindex(veth.dev)
        bench = _Bench(opts, bal, lb_fd, veth, ifindex, wrapped, flows, flows6, extra, log)
        results = _measure(bench, selected, plan)
        profiles = {p: profile(p, fd) for p, fd in targets.items() if not p.startswith("+")}
        profiles["wrap"] = profile("wrap", next(iter(wrapped.values())).fd)
        len_fixed = sum(w.len_fixed() for w in wrapped.values())
        return DataplaneReport(opts, machine.host(), cpu, veth, results, profiles, len_fixed, notes)
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack re-raises


def _load_balancer(bal: Balancer, flows: int | None) -> int:
    """Attach (the flow table `flows` slots) with the IPv4 and IPv6 services
    under test; the program's fd."""
    try:
        bal.attach("driver", SADDR, flows=flows, saddr6=SADDR6)
        bal.load([k for spec in SERVICES for k in parse_service(spec)], BACKENDS)
        bal.load([k for spec in SERVICES6 for k in parse_service(spec)], BACKENDS6)
        return bpfsys.obj_get(bal.prog_pin)
    except (BpfError, bpfsys.BpfSysError) as exc:
        raise BenchError(f"loading the balancer: {exc}") from None


def _detach(bal: Balancer) -> None:
    with contextlib.suppress(Exception):
        bal.detach()


def _measure(b: _Bench, selected: Sequence[Kind], plan: dict[str, list[str]]) -> list[KindResult]:
    results = [KindResult(k, {p: Series() for p in plan[k.name]}) for k in selected]
    for res in results:
        for prog, series in res.series.items():
            out = b.wrapped[(res.kind.name, prog)].run(1, b.ifindex, live=False)
            series.verdict = out.retval
            series.problems += check_output(res.kind, prog, out)
    warm = min(b.opts.repeat, 50_000)
    for res in results:
        for prog in res.series:
            b.wrapped[(res.kind.name, prog)].run(warm, b.ifindex, live=True)
    for rnd in range(b.opts.rounds):
        for res in results:
            # Rotate the order each round: no program always runs first.
            progs = list(res.series)
            shift = rnd % len(progs)
            for prog in progs[shift:] + progs[:shift]:
                b.timed(res.kind, prog, res.series[prog])
        b.log(f"  round {rnd + 1}/{b.opts.rounds} done")
    return results
