"""The text `l4lb bench dataplane` prints."""

from __future__ import annotations

import re

from l4lb_bench.chart import bars, fmt_ns, fmt_ratio, table
from l4lb_bench.dataplane.checks import flow_stat_names
from l4lb_bench.dataplane.packets import TX, VERDICT_NAMES
from l4lb_bench.dataplane.programs import DROP, LB, PASS, PROBES, PROGRAMS, REFL
from l4lb_bench.dataplane.results import DataplaneReport, KindResult
from l4lb_tui import flowsize


def _result_word(res: KindResult) -> str:
    if not res.verified:
        return "UNVERIFIED"
    return "meets" if res.meets_target else "MISSES"


def _check_text(res: KindResult, repeat: int) -> str:
    s = res.series[LB]
    if s.problems:
        return "; ".join(dict.fromkeys(s.problems))
    others = [
        f"{p}: {'; '.join(dict.fromkeys(res.series[p].problems))}"
        for p in PROGRAMS
        if p != LB and res.series[p].problems
    ]
    if others:
        return "; ".join(others)
    where = "backend counters" if res.kind.expect == TX else res.kind.expect.lower()
    peer = " & peer rx" if res.kind.expect == TX else ""
    flows = ""
    if res.kind.expect == TX and any(k.startswith("flow_stats[") for k in res.series[LB].extra):
        flows = "; no flow-table hit" if res.kind.new_flows else "; flow-table hits"
        if res.kind.flows:
            flows = f"; every packet counted by the flow table ({res.kind.flows:,} flows)"
    return f"{where}{peer} +{repeat:,} every run{flows}"


def _extra_text(res: KindResult) -> str:
    extra = {k: v for k, v in res.series[LB].extra.items() if v}
    total = sum(extra.values())
    if not total:
        return ""
    names = flow_stat_names()
    labelled: dict[str, int] = {}
    for key, value in sorted(extra.items()):
        m = re.match(r"flow_stats\[(\d+)\]$", key)
        label = names.get(int(m.group(1)), key) if m else key
        labelled[label] = labelled.get(label, 0) + value
    return "flows: " + " ".join(f"{k} {100 * v / total:.0f}%" for k, v in labelled.items())


def format_report(rep: DataplaneReport) -> str:
    return "\n".join(
        [
            *_heading(rep),
            *_figures(rep),
            *_proofs(rep),
            "",
            _chart(rep),
            *_probes(rep),
            *_steps(rep),
            *_profiles(rep),
        ]
    )


def _heading(rep: DataplaneReport) -> list[str]:
    o = rep.options
    return [
        "l4lb bench dataplane",
        f"  {rep.host.line()}",
        f"  BPF_PROG_TEST_RUN live frames on {rep.veth.dev} (peer {rep.veth.peer} runs "
        f"XDP_DROP), netns {rep.veth.ns}, CPU {rep.cpu} pinned",
        f"  {o.repeat:,} packets a run, {o.rounds} rounds, programs interleaved round by "
        "round; every program behind the restoring wrapper",
        *_table_line(rep),
        *(f"  note: {n}" for n in rep.notes),
        "",
    ]


def _table_line(rep: DataplaneReport) -> list[str]:
    lb = rep.profiles.get(LB)
    slots = next((m.max_entries for m in lb.maps if m.name == "flows"), 0) if lb else 0
    return [f"  balancer's {flowsize.describe(slots)}"] if slots else []


def _figure_row(r: KindResult) -> list[str]:
    s = r.series
    return [
        r.kind.name,
        VERDICT_NAMES.get(s[LB].verdict, str(s[LB].verdict)),
        fmt_ns(s[LB].median),
        fmt_ns(s[REFL].median),
        fmt_ns(s[PASS].median),
        fmt_ns(s[DROP].median) if DROP in s else "-",
        fmt_ratio(r.ratio(LB, REFL)),
        fmt_ratio(r.ratio(LB, PASS)),
        _hits(r),
        f"{r.delta(LB, r.kind.ref):+.0f} {r.kind.ref}",
        f"<={r.kind.target:g}x {r.kind.ref}",
        _result_word(r),
    ]


def _hits(r: KindResult) -> str:
    """The flow table's hit rate, for the kinds where it is the question."""
    rate = r.hit_rate
    if not r.kind.flows or rate is None:
        return "-"
    return f"{100 * rate:.2f}%"


def _figures(rep: DataplaneReport) -> list[str]:
    header = [
        "kind",
        "verdict",
        "l4lb",
        "refl",
        "pass",
        "drop",
        "l4lb/refl",
        "l4lb/pass",
        "hits",
        "+ns",
        "target",
        "result",
    ]
    rows = [_figure_row(r) for r in rep.results]
    return [
        "median ns/packet (l4lb = the balancer; ratios and +ns: medians of round-by-round "
        "ratios and differences)",
        table(header, rows, right={2, 3, 4, 5, 6, 7, 8, 9}),
    ]


def _proofs(rep: DataplaneReport) -> list[str]:
    rows = [
        [r.kind.name, r.kind.what, _check_text(r, rep.options.repeat), _extra_text(r)]
        for r in rep.results
    ]
    out = [
        "",
        "what each kind is, and what proved the figure came from the real path",
        table(["kind", "packet", "checked", "flow table"], rows),
    ]
    if rep.wrapper_len_fixed:
        out.append(f"wrapper restored the frame length {rep.wrapper_len_fixed:,} times")
    return out


def _chart(rep: DataplaneReport) -> str:
    return bars(
        [
            (
                r.kind.name,
                [
                    ("l4lb", r.series[LB].median),
                    ("reflector", r.series[REFL].median),
                    ("XDP_PASS", r.series[PASS].median),
                ],
            )
            for r in rep.results
        ],
        "ns per packet: l4lb against the reflector (XDP_TX) and bare XDP_PASS",
    )


def _probes(rep: DataplaneReport) -> list[str]:
    probes = {p.name: p for p in PROBES}
    rows = [
        [
            prog,
            r.kind.name,
            fmt_ns(series.median),
            fmt_ns(r.series[REFL].median),
            f"{r.delta(prog, REFL):+.0f}",
            fmt_ratio(r.ratio(prog, REFL)),
            "; ".join(dict.fromkeys(series.problems)) or "ok",
            probes[prog].what,
        ]
        for r in rep.results
        for prog, series in r.series.items()
        if prog in probes
    ]
    if not rows:
        return []
    header = ["probe", "kind", "ns", "refl", "+ns", "x refl", "checks", "the piece"]
    return [
        "",
        "what costs what: the reflector plus one piece of the balancer "
        "(bpf/bench_cost.c), same rounds",
        table(header, rows, right={2, 3, 4, 5}),
    ]


def _steps(rep: DataplaneReport) -> list[str]:
    """The fixed costs and the balancer's own work, read off the kinds that
    were timed with XDP_DROP too."""
    steps = [
        r
        for r in rep.results
        if r.kind.name in ("udp-est", "syn-new", "not-vip") and DROP in r.series
    ]
    if not steps:
        return []
    rows = []
    for r in steps:
        ref = REFL if r.kind.expect == TX else PASS
        rows += [
            [r.kind.name, "test run + wrapper + tail call (drop)", fmt_ns(r.series[DROP].median)],
            ["", "XDP_TX path, reflector - drop", f"{r.delta(REFL, DROP):+.0f}"],
            ["", "XDP_PASS path (skb, stack), pass - drop", f"{r.delta(PASS, DROP):+.0f}"],
            ["", f"the balancer's own work, l4lb - {ref}", f"{r.delta(LB, ref):+.0f}"],
        ]
    return [
        "",
        "the same, read off the kinds (median of round-by-round differences, ns)",
        table(["kind", "step", "ns"], rows, right={2}),
    ]


def _profiles(rep: DataplaneReport) -> list[str]:
    rows = [
        [
            p.name,
            str(p.prog_id),
            f"{p.xlated_insns:,}",
            f"{p.xlated_bytes:,}",
            f"{p.jited_bytes:,}",
            f"{p.verified_insns:,}",
            ", ".join(f"{k} {v}" for k, v in sorted(p.helpers.items())) or "-",
        ]
        for p in rep.profiles.values()
    ]
    header = ["program", "id", "insns", "xlated B", "jited B", "verified", "helper calls"]
    out = [
        "",
        "program profile (bpf_prog_info, as `bpftool prog show` reports it)",
        table(header, rows, right={1, 2, 3, 4, 5}),
    ]
    lb = rep.profiles.get(LB)
    if lb:
        maps = [
            [m.name, m.type_name, f"{m.max_entries:,}", str(m.value_size), str(m.refs)]
            for m in lb.maps
        ]
        out += [
            "",
            "balancer maps (refs: places in the translated program that load the map)",
            table(["map", "type", "entries", "value B", "refs"], maps, right={2, 3, 4}),
        ]
    return out
