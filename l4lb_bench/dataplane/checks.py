"""The proofs every timed run must pass: verdict and output frame, counters,
frames at the peer, and the flow-table path."""

from __future__ import annotations

import re

from l4lb_bench import frames, frames6, processes
from l4lb_bench.dataplane.packets import (
    BACKENDS,
    BACKENDS6,
    SADDR,
    SADDR6,
    TX,
    VERDICT_NAMES,
    XDP_PASS,
    XDP_TX,
    Kind,
)
from l4lb_bench.dataplane.programs import LB, REF_VERDICT
from l4lb_tui import abi, abi6, bpfsys
from l4lb_tui.model import Counters


def peer_xdp_packets(dev: str) -> int:
    """Frames the peer's XDP program saw (veth per-queue stats, ethtool -S)."""
    out = processes.run(["ethtool", "-S", dev]).stdout
    return sum(int(n) for n in re.findall(r"rx_queue_\d+_xdp_packets:\s*(\d+)", out))


def counter_delta(before: Counters, after: Counters) -> tuple[int, dict[str, int]]:
    """(packets counted per backend in total, packets per reason)."""
    backends = sum(p for p, _ in after.backends.values()) - sum(
        p for p, _ in before.backends.values()
    )
    reasons = {
        r.name: after.reasons.get(r, (0, 0))[0] - before.reasons.get(r, (0, 0))[0]
        for r in after.reasons
    }
    return backends, {k: v for k, v in reasons.items() if v}


def check_output(kind: Kind, prog: str, result: bpfsys.RunResult) -> list[str]:
    """What the non-live run returned: the right verdict and frame."""
    problems = []
    if prog == LB:
        want = XDP_TX if kind.expect == TX else XDP_PASS
    else:
        want = REF_VERDICT.get(prog, XDP_TX)  # probes transmit, as the reflector
    if result.retval != want:
        problems.append(
            f"verdict {VERDICT_NAMES.get(result.retval, result.retval)}, not {VERDICT_NAMES[want]}"
        )
        return problems
    span = frames.changed_span(kind.frame, result.data)
    window = min(frames.RESTORE_BYTES, len(kind.frame))
    if span is not None and span[1] >= window:
        problems.append(
            f"rewrote byte {span[1]} of the frame, beyond the {window} the wrapper restores"
        )
    if prog == LB and kind.expect == TX:
        problems += _check_encap(kind, result.data)
    return problems


def _check_encap(kind: Kind, out: bytes) -> list[str]:
    if kind.frame[12:14] == frames6.ETH_P_IPV6.to_bytes(2, "big"):
        macs = {d.ip: abi.mac_bytes(d.mac) for d in BACKENDS6}
        varied = kind.new_flows or kind.flows > 0
        return frames6.encap_problems(kind.frame, out, SADDR6, macs, varied=varied)
    outer = frames.parse_ipv4(out)
    if outer is None or outer.proto != frames.PROTO_IPIP:
        return ["output is not IPIP"]
    problems = []
    members = {d.ip: d.mac for d in BACKENDS}
    if outer.dst not in members:
        problems.append(f"outer destination {outer.dst} is not a backend")
    elif out[:6] != abi.mac_bytes(members[outer.dst]):
        problems.append("Ethernet destination is not the backend's MAC")
    if outer.src != SADDR or not outer.header_ok:
        problems.append("bad outer source or checksum")
    inner_at = frames.ETH_LEN + frames.IP_LEN
    if len(out) != len(kind.frame) + frames.IP_LEN:
        problems.append(f"{len(out)} bytes out for {len(kind.frame)} in")
    elif out[inner_at:] != kind.frame[frames.ETH_LEN :] and not (kind.new_flows or kind.flows):
        problems.append("inner packet changed")
    if not frames.l4_checksum_ok(out, inner_at):
        problems.append("inner TCP/UDP checksum wrong")
    return problems


def flow_stat_names() -> dict[int, str]:
    """Index -> name of the balancer's flow-table counters (abi.FlowStat),
    IPv6's (from FLOW6_STAT_BASE on, where the data plane has them) under
    the same names: a kind is of one family, so the two never mix."""
    stat = getattr(abi, "FlowStat", None)
    if stat is None:
        return {}
    base6 = getattr(abi6, "FLOW6_STAT_BASE", None)
    bases = (0,) if base6 is None else (0, base6)
    return {base + int(m): m.name.lower() for base in bases for m in stat}


def flow_stats_by_name(counts: dict[str, int]) -> dict[str, int]:
    """flow_stats[i] counts summed by outcome name."""
    names = flow_stat_names()
    out: dict[str, int] = {}
    for k, v in counts.items():
        if k.startswith("flow_stats["):
            name = names.get(int(k[len("flow_stats[") : -1]), k)
            out[name] = out.get(name, 0) + v
    return out


def check_flow_path(kind: Kind, delta: dict[str, int], repeat: int) -> str | None:
    """An established flow must hit the flow table; a new one never."""
    by_name = flow_stats_by_name(delta)
    if not by_name or kind.expect != TX:
        return None
    hits = by_name.get("hit", 0)
    if kind.flows:
        counted = sum(by_name.values())
        if counted != repeat:
            return f"flow table counted {counted:,} packets of {repeat:,}"
        return None  # how many hit is a finding (the report's hit rate), not a fault
    if kind.new_flows and hits:
        return f"{hits:,} flow-table hits in a run of new flows"
    if not kind.new_flows and hits < repeat - 2:
        other = {k: v for k, v in by_name.items() if v and k != "hit"}
        return f"only {hits:,} flow-table hits of {repeat:,} ({other})"
    return None


def hit_rate(extra: dict[str, int]) -> float | None:
    """Flow-table hits per packet the table was asked about, or None."""
    by_name = flow_stats_by_name(extra)
    total = sum(by_name.values())
    if "hit" not in flow_stat_names().values() or not total:
        return None
    return by_name.get("hit", 0) / total
