"""What `l4lb bench lab` (live-frames generator) checks and prints."""

from __future__ import annotations

from collections.abc import Callable

from l4lb_bench import vethstats
from l4lb_bench.chart import table
from l4lb_bench.labflood import STATS_SYSCTL, Share
from l4lb_bench.labgen import MAX_FLOWS
from l4lb_bench.labrate import FLOOD_PORT, LB, PATH, REFL, THREADS, LiveReport, Round

SATURATED = 0.9  # a thread this busy is what bounds the rate


def _median_busy(rep: LiveReport, program: str, thread: str) -> float:
    return rep.median(program, lambda r: r.busy(thread))


def bound(rep: LiveReport, program: str) -> str:
    """What kept `program`'s rounds from going faster."""
    busy = {t: _median_busy(rep, program, t) for t in THREADS}
    path = sum(busy[t] for t in PATH)
    split = ", ".join(f"{t} {100 * busy[t]:.0f}%" for t in PATH)
    if path >= SATURATED:
        return f"the path's CPU {rep.cpus[1]}: its NAPI threads used {100 * path:.0f}% ({split})"
    if busy["generator"] >= SATURATED:
        return f"the generator: {100 * busy['generator']:.0f}% of CPU {rep.cpus[0]}"
    return (
        f"CPU time shared with other processes: the path's threads got {100 * path:.0f}% of "
        f"CPU {rep.cpus[1]} ({split}), the generator {100 * busy['generator']:.0f}% of CPU "
        f"{rep.cpus[0]}; the machine's CPUs were {100 * rep.machine_busy:.0f}% busy"
    )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b and a == a and b == b else "-"


def _busy(thread: str) -> Callable[[Round], float]:
    return lambda r: r.busy(thread)


def _lost(where: str) -> Callable[[Round], float]:
    return lambda r: r.lost.get(where, 0) / r.window if r.window else 0.0


def _measures(rep: LiveReport) -> list[list[str]]:
    rows = []
    specs: list[tuple[str, Callable[[Round], float], str, bool]] = [
        ("packets/s the program ran on (bpf_stats)", lambda r: r.pps, "{:,.0f}", True),
        ("packets/s per core (balancer veth's thread)", lambda r: r.pps_per_core, "{:,.0f}", True),
        ("ns per packet, balancer veth's thread", lambda r: r.ns_per_packet, "{:,.1f}", True),
        (
            "ns per packet, XDP program alone",
            lambda r: r.run_time_ns / r.run_cnt if r.run_cnt else float("nan"),
            "{:,.1f}",
            True,
        ),
        ("generator sent/s", lambda r: r.sent / r.window, "{:,.0f}", False),
        (
            "generator sent per core of its thread",
            lambda r: (
                r.sent / (r.thread_ns["generator"] / 1e9) if r.thread_ns["generator"] else 0.0
            ),
            "{:,.0f}",
            False,
        ),
        (
            "reached the balancer's veth / sent",
            lambda r: r.run_cnt / r.sent if r.sent else 0.0,
            "{:.1%}",
            False,
        ),
        *((f"{t} thread busy", _busy(t), "{:.0%}", False) for t in THREADS),
        *((f"lost/s: {w}", _lost(w), "{:,.0f}", False) for w in vethstats.WHERE),
    ]
    for what, fn, fmt, ratio in specs:
        lb, refl = rep.median(LB, fn), rep.median(REFL, fn)
        rows.append([what, fmt.format(lb), fmt.format(refl), _ratio(lb, refl) if ratio else ""])
    return rows


def _spread(shares: list[Share]) -> str:
    rows = []
    by_service: dict[str, list[Share]] = {}
    for s in shares:
        by_service.setdefault(s.service, []).append(s)
    for service, group in by_service.items():
        if not sum(s.packets for s in group):
            continue  # a service of the lab the flood does not use
        total = sum(s.packets for s in group)
        lo, hi = min(s.packets for s in group), max(s.packets for s in group)
        for s in group:
            rows.append([service, s.ip, f"{s.packets:,}", f"{100 * s.packets / total:.1f}%"])
        rows.append([service, "max/min share", f"{hi / lo:.3f}" if lo else "inf", ""])
    return table(["service", "backend", "packets", "share"], rows, right={2, 3})


def format_report(rep: LiveReport) -> str:
    o = rep.options
    last = 1024 + o.flows - 1
    out = [
        "l4lb bench lab (generator: live frames of BPF_PROG_TEST_RUN, bench_wrap + bench_refl)",
        f"  {rep.host.line()}",
        f"  lab {rep.prefix} ({o.backends} backends, driver mode, threaded NAPI on the path); "
        f"UDP to port {FLOOD_PORT} of the VIP, {o.flows:,} flows (source ports 1024-{last}, "
        f"at most {MAX_FLOWS:,})",
        f"  generator on CPU {rep.cpus[0]}, the path's NAPI threads on CPU "
        f"{rep.cpus[1]}; {o.rounds} round(s) of {o.duration:g} s per program, interleaved; "
        "medians",
        "",
        table(["measure", LB, REFL, "ratio"], _measures(rep), right={1, 2, 3}),
        "",
        f"  bounded (balancer rounds): {bound(rep, LB)}",
        f"  bounded (reflector rounds): {bound(rep, REFL)}",
        f"  balanced in the balancer's windows: {rep.tx:,}; other verdicts: "
        + (", ".join(f"{k.lower()} {v:,}" for k, v in rep.reasons.items()) or "none"),
        f"  decapsulated at the backends (whole run): {rep.decapsulated:,}",
        f"  {STATS_SYSCTL}: {rep.sysctl_before} before, 1 during, {rep.sysctl_after} after",
        "",
        "rounds (packets/s | per core of the balancer veth's thread)",
    ]
    rows = [
        [str(i // 2 + 1), r.program, f"{r.pps:,.0f}", f"{r.pps_per_core:,.0f}"]
        for i, r in enumerate(rep.rounds)
    ]
    out.append(table(["round", "program", "pps", "pps/core"], rows, right={2, 3}))
    out += ["", "spread over backends (packets in the balancer's windows)", _spread(rep.shares)]
    if rep.problems:
        out += ["", "problems: " + "; ".join(rep.problems)]
    return "\n".join(out)
