"""The statistics view: turns state and two counter samples into rows.

Pure logic shared by `l4lb stats` (text and JSON) and the console.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from l4lb_tui import flowsize
from l4lb_tui.abi import FlowStat, Reason
from l4lb_tui.model import Counters, FlowOccupancy, State
from l4lb_tui.rates import Rate, fmt_int, rate

MODE_LABELS = {
    "driver": "Driver",
    "generic": "Generic",
    "offload": "Offload",
    "multi": "Driver+Offload",
    "": "Detached",
}


@dataclass(frozen=True, slots=True)
class BackendRow:
    number: int
    index: int
    service: str
    ip: str
    mac: str
    weight: int
    draining: bool
    pkts: int
    bytes: int
    rate: Rate
    down: bool = False  # the health checker's verdict


@dataclass(frozen=True, slots=True)
class StatsView:
    ifname: str
    mode: str
    prog_id: int
    services: tuple[str, ...]
    rows: tuple[BackendRow, ...]
    total: Rate
    passed: dict[str, int]
    dropped: dict[str, int]
    other: dict[str, int]
    flows: dict[str, int]
    catch_all: bool
    fingerprints: dict[str, str] = field(default_factory=dict)  # service -> ring print
    occupancy: FlowOccupancy | None = None
    untracked_pps: float = 0.0  # flows balanced by the ring alone, packets/s
    warning: str | None = None  # affinity being lost (see flowsize.affinity_warning)
    warnings: tuple[str, ...] = ()  # the same, each table's on its own
    brief: str | None = None  # the same in a few words (the console's header)
    flows6: dict[str, int] = field(default_factory=dict)  # the IPv6 table's outcomes
    occupancy6: FlowOccupancy | None = None
    untracked_pps6: float = 0.0

    @property
    def mode_label(self) -> str:
        return MODE_LABELS.get(self.mode, self.mode)


def build_view(state: State, prev: Counters | None, cur: Counters) -> StatsView:
    seconds = cur.taken_at - prev.taken_at if prev else 0.0
    rows = []
    number = 1
    for svc in state.services:
        for be in svc.backends:
            now = cur.backends.get(be.index, (0, 0))
            # A slot missing from a sample had counted nothing yet.
            before = prev.backends.get(be.index, (0, 0)) if prev else None
            rows.append(
                BackendRow(
                    number,
                    be.index,
                    str(svc.key),
                    be.ip,
                    be.mac,
                    be.weight,
                    be.draining,
                    now[0],
                    now[1],
                    rate(before, now, seconds),
                    be.down,
                )
            )
            number += 1
    total = Rate(sum(r.rate.pps for r in rows), sum(r.rate.bps for r in rows))
    passed = {r.label: cur.reasons.get(r, (0, 0))[0] for r in Reason if r.is_pass}
    dropped = {r.label: cur.reasons.get(r, (0, 0))[0] for r in Reason if r.is_drop}
    other = {r.label: cur.reasons.get(r, (0, 0))[0] for r in Reason if not (r.is_pass or r.is_drop)}
    flows = {f.name.lower(): cur.flows.get(f, 0) for f in FlowStat}
    flows6 = {f.name.lower(): cur.flows6.get(f, 0) for f in FlowStat}
    untracked, _ = _flow_deltas(prev.flows if prev else {}, cur.flows)
    untracked6, _ = _flow_deltas(prev.flows6 if prev else {}, cur.flows6)
    occ, occ6 = cur.occupancy, cur.occupancy6
    warnings = tuple(w for w in table_warnings(prev, cur, seconds) if w)
    brief = "; ".join(w for w in table_warnings(prev, cur, seconds, brief=True) if w)
    return StatsView(
        ifname=state.ifname,
        mode=state.mode,
        prog_id=state.prog_id,
        services=tuple(str(s.key) for s in state.services),
        rows=tuple(rows),
        total=total,
        passed=passed,
        dropped=dropped,
        other=other,
        flows=flows,
        catch_all=state.config.catch_all,
        fingerprints={str(k): v for k, v in sorted(state.fingerprints.items())},
        occupancy=occ,
        untracked_pps=untracked / seconds if seconds > 0 else 0.0,
        warning="; ".join(warnings) or None,
        warnings=warnings,
        brief=brief or None,
        flows6=flows6,
        occupancy6=occ6,
        untracked_pps6=untracked6 / seconds if seconds > 0 else 0.0,
    )


def table_warnings(
    prev: Counters | None, cur: Counters, seconds: float, brief: bool = False
) -> tuple[str | None, str | None]:
    """Each flow table's own warning, IPv4's then IPv6's (None: none, or no
    such table): affinity being lost, by flowsize.affinity_warning."""
    said = []
    for occ, before, now, v6 in (
        (cur.occupancy, prev.flows if prev else {}, cur.flows, False),
        (cur.occupancy6, prev.flows6 if prev else {}, cur.flows6, True),
    ):
        untracked, looked_up = _flow_deltas(before, now)
        said.append(
            None
            if occ is None
            else flowsize.affinity_warning(
                occ.entries, occ.capacity, untracked, looked_up, seconds, ipv6=v6, brief=brief
            )
        )
    return said[0], said[1]


def _flow_deltas(before: dict[FlowStat, int], now: dict[FlowStat, int]) -> tuple[int, int]:
    """Untracked packets and all of one table's outcomes since `before`
    (since the start when empty)."""
    untracked = now.get(FlowStat.UNTRACKED, 0) - before.get(FlowStat.UNTRACKED, 0)
    total = sum(now.values()) - sum(before.values())
    return max(untracked, 0), max(total, 0)


def occupancy_text(occ: FlowOccupancy | None) -> str:
    if occ is None:
        return "no flow table"
    about = "~" if occ.sampled else ""
    return (
        f"{about}{fmt_int(occ.entries)} of {fmt_int(occ.capacity)} "
        f"({100 * occ.share:.1f}%, {flowsize.human(occ.capacity)})"
    )


def _counts_line(title: str, counts: dict[str, int], strip_prefix: bool = True) -> str:
    parts = [
        f"{name.split('_', 1)[1] if strip_prefix else name} {fmt_int(n)}"
        for name, n in counts.items()
    ]
    return f"[{title}] " + "  ".join(parts)


def render_text(view: StatsView) -> str:
    """The seed's layout: one line a destination, then totals."""
    lines = [f"== Load balancer outbound statistics [{view.mode_label}] ==", ""]
    lines.append(
        f"interface {view.ifname}  program id {view.prog_id}  "
        f"services: {', '.join(view.services) or 'none'}"
    )
    lines.append("")
    service = None
    for row in view.rows:
        if row.service != service and len(view.services) > 1:
            service = row.service
            lines.append(f"[Service {service}]")
        drain = ("  draining" if row.draining else "") + ("  down (health)" if row.down else "")
        lines.append(
            f"{row.number:4d}\t{row.ip:15s}\t{fmt_int(row.rate.pps):>12} pkts/s\t"
            f"{fmt_int(row.rate.bps):>15} bits/s\tw {row.weight}{drain}"
        )
    lines.append("")
    lines.append(
        f"[Totals]\t\t{fmt_int(view.total.pps):>12} pkts/s\t{fmt_int(view.total.bps):>15} bits/s"
    )
    lines.append(_counts_line("Passed", view.passed))
    lines.append(_counts_line("Dropped", view.dropped))
    lines.append(_counts_line("ICMP", view.other, strip_prefix=False))
    lines.append(_counts_line("Flows", view.flows, strip_prefix=False))
    if view.fingerprints:
        prints = "  ".join(f"{svc} {fp}" for svc, fp in view.fingerprints.items())
        lines.append(f"[Ring] {prints}")
    lines.append(
        f"[Flow table] {occupancy_text(view.occupancy)}  "
        f"untracked {fmt_int(round(view.untracked_pps))} pkts/s"
    )
    if view.occupancy6 is not None:
        lines.append(_counts_line("Flows v6", view.flows6, strip_prefix=False))
        lines.append(
            f"[Flow table v6] {occupancy_text(view.occupancy6)}  "
            f"untracked {fmt_int(round(view.untracked_pps6))} pkts/s"
        )
    lines.extend(f"warning: {w}" for w in view.warnings)
    return "\n".join(lines)


def render_json(view: StatsView) -> dict[str, Any]:
    return {
        "interface": view.ifname,
        "mode": view.mode or "detached",
        "prog_id": view.prog_id,
        "catch_all": view.catch_all,
        "services": list(view.services),
        "backends": [
            {
                "number": r.number,
                "index": r.index,
                "service": r.service,
                "ip": r.ip,
                "mac": r.mac,
                "weight": r.weight,
                "draining": r.draining,
                "down": r.down,
                "pkts": r.pkts,
                "bytes": r.bytes,
                "pps": round(r.rate.pps, 1),
                "bps": round(r.rate.bps, 1),
            }
            for r in view.rows
        ],
        "totals": {
            "pkts": sum(r.pkts for r in view.rows),
            "bytes": sum(r.bytes for r in view.rows),
            "pps": round(view.total.pps, 1),
            "bps": round(view.total.bps, 1),
        },
        "passed": view.passed,
        "dropped": view.dropped,
        "icmp": view.other,
        "flows": view.flows,
        "ring_fingerprints": view.fingerprints,
        "flow_table": _table_json(view.occupancy, view.untracked_pps),
        "flows6": view.flows6,
        "flow_table6": _table_json(view.occupancy6, view.untracked_pps6),
        "warning": view.warning,
    }


def _table_json(occ: FlowOccupancy | None, untracked_pps: float) -> dict[str, Any] | None:
    if occ is None:
        return None
    return {
        "capacity": occ.capacity,
        "entries": occ.entries,
        "occupancy": round(occ.share, 4),
        "sampled": occ.sampled,
        "untracked_pps": round(untracked_pps, 1),
    }
