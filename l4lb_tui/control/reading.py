"""A balancer's state and counters, read back from its pinned maps."""

from __future__ import annotations

import time

from l4lb_tui import abi, abi6, svc6, svcindex
from l4lb_tui.control import flowtable, ringprints
from l4lb_tui.control.handle import Handle
from l4lb_tui.decoded_backends import DecodeCache
from l4lb_tui.model import Counters, State
from l4lb_tui.reload_plan import Snapshot


def services(
    h: Handle, orphans: list[int] | None = None
) -> tuple[dict[abi.ServiceKey, tuple[int, abi.ServiceValue]], dict[str, int]]:
    """Each service with its index slot, and each VIP's marker slot (and,
    into `orphans`, live ids no slot names); a v6 service's or marker's slot
    is in `svc6`, a v4 one's in `svc_index`."""
    index = h.read_array("svc_index")
    lives = h.read_array("svc_live")
    found, markers = svcindex.decode(index.raw, index.stride, lives.raw, lives.stride)
    index6 = h.read_array("svc6")
    v6, markers6 = svc6.decode(index6.raw, index6.stride, lives.raw, lives.stride)
    found.update(v6)
    markers.update(markers6)
    if orphans is not None:
        used = {v.svc_id for _, v in found.values()}
        orphans += svcindex.orphans(lives.raw, lives.stride, used)
    return found, markers


def snapshot(h: Handle, decoded: DecodeCache) -> Snapshot:
    orphans: list[int] = []
    found, markers = services(h, orphans)
    live = {k: v for k, (_, v) in found.items()}
    slots = {k: slot for k, (slot, _) in found.items()}
    slots.update((svcindex.marker(vip), slot) for vip, slot in markers.items())
    table = decoded.table(h.read_array("backends"), h.read_array("backend6").raw)
    return Snapshot(live, slots, table, tuple(orphans))


def state(h: Handle, snap: Snapshot, decoded: DecodeCache) -> State:
    built = decoded.services(h.pin_dir, snap.services, snap.table)
    attachment = h.attachment()  # first: it follows a rename
    return State(
        ifname=h.ifname,
        config=h.config(),
        attachment=attachment,
        prog_id=h.prog_id(),
        services=built,
        ring_prints=tuple(sorted(ringprints.fingerprints(h, snap.services, snap.table).items())),
        source6=h.source6(),
    )


def counters(h: Handle) -> Counters:
    stats = h.read_array("backend_stats").summed_u64_pairs()
    backends = {i: v for i, v in enumerate(stats) if v != (0, 0)}
    reasons = {
        abi.Reason(i): v
        for i, v in enumerate(h.read_array("reasons").summed_u64_pairs())
        if i in abi.Reason._value2member_map_
    }
    flow_dump = h.read_array("flow_stats")
    summed = [sum(int.from_bytes(v[:8], "little") for v in values) for values in flow_dump.values()]
    flows, flows6 = ({
        s: summed[base + s] if base + s < len(summed) else 0 for s in abi.FlowStat
    } for base in (0, abi6.FLOW6_STAT_BASE))  # fmt: skip
    return Counters(
        time.monotonic(),
        backends,
        reasons,
        flows,
        flowtable.occupancy(h),
        flows6,
        flowtable.occupancy6(h),
    )
