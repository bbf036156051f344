"""Hitless changes to a balancer's services: a load, an edit and a service's
removal, each written as one bpftool batch planned against one read of the
maps (reload_plan.py), under the write lock the caller holds."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

from l4lb_tui import abi, abi6, backend_edits, bpfsys, svc6, svcindex, validation
from l4lb_tui.bpftool import Bpftool
from l4lb_tui.control import reading
from l4lb_tui.control.handle import Handle
from l4lb_tui.destinations import Destination
from l4lb_tui.errors import BalancerError
from l4lb_tui.model import LoadResult
from l4lb_tui.reload_plan import WRITTEN_MAPS, PlanError, Planner, Snapshot
from l4lb_tui.ring_fill import DEFAULT_RING_SIZE, FillMode


def load(
    h: Handle,
    snap: Snapshot,
    services: Sequence[abi.ServiceKey],
    dests: Sequence[Destination],
    mode: FillMode | None,
    ring_size: int | None,
    write: bool = True,
) -> LoadResult:
    """`dests` as the backend set of each service (see Balancer.load);
    without `write`, only planned: every refusal, nothing written."""
    # A service named twice is one service, reloaded once: a second
    # reload in the same batch would flip it to a half the first one's
    # flows do not know yet.
    services = list(dict.fromkeys(services)) or [abi.CATCH_ALL]
    catch_all, used_mode, used_size = load_services(
        h, [(key, dests) for key in services], mode, ring_size, snap, write
    )
    return LoadResult(tuple(services), len(dests), used_size, catch_all, used_mode)


def edit(
    h: Handle, snap: Snapshot, changes: Mapping[abi.ServiceKey, backend_edits.Change]
) -> backend_edits.Done:
    """The changes made on the lists `snap` holds, then written (see
    Balancer.edit); each service's list before and after."""
    done = backend_edits.apply_all(changes, lambda key: _listed(snap.members(key)))
    lists = [(key, after) for key, (_, after) in done.items() if after is not None]
    if lists:
        load_services(h, lists, None, None, snap)
    for key, (before, after) in done.items():
        if after is None and before is not None:
            remove_service(h, key)
    return done


def load_services(
    h: Handle,
    lists: Sequence[tuple[abi.ServiceKey, Sequence[Destination]]],
    mode: FillMode | None,
    ring_size: int | None,
    snap: Snapshot,
    write: bool = True,
) -> tuple[bool, FillMode, int]:
    """Each service's new list, in one batch; catch-all, fill and ring size used."""
    live = snap.services
    ids = map_ids(h)
    plan = Planner(snap, lambda: h.read_array("backend_stats"), ids)
    cmds: list[str] = []
    flips: list[str] = []
    used_mode = FillMode.MAGLEV
    used_size = DEFAULT_RING_SIZE
    _check_own_addresses(h, [d for _, dests in lists for d in dests])
    source6 = h.source6()
    _check_sources(lists, [(h.config().saddr, "-s"), (source6, "--source6")])
    cmds += _check_families(h, lists, ids, has_source6=source6 is not None)
    for key, dests in lists:
        old = live.get(key)
        used_mode = mode or (_mode_of(old) if old else FillMode.MAGLEV)
        kept = ring_size is None and old is not None and old.ring_size > 0
        used_size = ring_size or (old.ring_size if old and kept else DEFAULT_RING_SIZE)
        _check_ring(key, used_mode, used_size, dests, kept)
        try:
            cmds_svc, flip = plan.service(key, dests, used_mode, used_size)
        except PlanError as exc:
            raise BalancerError(str(exc)) from None
        cmds += cmds_svc
        flips += flip
    catch_all = any(k.is_catch_all for k in plan.final_keys())
    new_vips = {k.vip for k, _ in lists if not k.is_catch_all}
    all_vips = {k.vip for k in plan.final_keys() if not k.is_catch_all}
    vip_cmds = _vip_filter_cmds(all_vips, ids)
    try:
        vip_cmds += plan.vip_markers(new_vips)
    except PlanError as exc:
        raise BalancerError(str(exc)) from None
    cleanup = plan.stale_markers()
    config = _config_cmd(h, catch_all, ids)
    if write:
        h.bpftool.batch([*plan.orphan_lines(), *cmds, *vip_cmds, *flips, config, *cleanup])
    return catch_all, used_mode, used_size


def map_ids(h: Handle) -> dict[str, int]:
    """Ids of the maps a reload writes, for its batch lines.  Resolved
    under the write lock, for each reload: attach and detach, which
    replace the maps, take the same lock."""
    ids = {}
    for name in WRITTEN_MAPS:
        with h.reading(name):
            fd = bpfsys.obj_get(h.map_pin(name))
            try:
                ids[name] = bpfsys.map_info(fd).map_id
            finally:
                os.close(fd)
    return ids


def remove_service(h: Handle, key: abi.ServiceKey) -> None:
    orphans: list[int] = []
    live, markers = reading.services(h, orphans)
    if key not in live:
        raise BalancerError(f"no service {key} on {h.ifname}")
    ids = map_ids(h)
    slot, value = live[key]
    # Out of the index first: from then on no packet finds it (and what
    # an earlier removal killed half-way left live goes with it).
    cmds = [
        *(Bpftool.update_cmd(ids["svc_live"], abi.u32(i), bytes(16)) for i in orphans),
        _unindex(ids, key, slot),
        Bpftool.update_cmd(ids["svc_live"], abi.u32(value.svc_id), bytes(16)),
    ]
    rest = {k.vip for k in live if k != key and not k.is_catch_all}
    cmds += _vip_filter_cmds(rest, ids)
    if key.vip in markers and key.vip not in rest:
        cmds.append(_unindex(ids, svcindex.marker(key.vip), markers[key.vip]))
    catch_all = any(k.is_catch_all for k in live if k != key)
    h.bpftool.batch([*cmds, _config_cmd(h, catch_all, ids)])


def _unindex(ids: dict[str, int], key: abi.ServiceKey, slot: int) -> str:
    """The line that takes a service or VIP marker out of its index."""
    if abi6.is_ip6(key.vip):
        return svc6.empty_line(ids["svc6"], slot)
    return Bpftool.update_cmd(ids["svc_index"], abi.u32(slot), svcindex.empty_slot())


def _check_families(
    h: Handle,
    lists: Sequence[tuple[abi.ServiceKey, Sequence[Destination]]],
    ids: dict[str, int],
    has_source6: bool,
) -> list[str]:
    """A service's backends are of its own family (IPv4-in-IPv6 is not
    built).  v6 services need an outer v6 source: the one given at attach
    (`has_source6`), else the interface's first global IPv6 address (the
    line writing it)."""
    for key, dests in lists:
        problem = validation.family_problem([key.vip], [d.ip for d in dests])
        if problem:
            raise BalancerError(f"service {key}: {problem}")
    first6 = next((k for k, _ in lists if abi6.is_ip6(k.vip)), None)
    if first6 is None or has_source6:
        return []
    # Never a VIP: the backends hold it too, so their answers would stay there.
    # (config6 unset: this is the first IPv6 load, these are all its VIPs.)
    vips = {k.vip for k, _ in lists}
    own = [a for a in h.link().ipv6 if a.partition("/")[0] not in vips]
    if not own:
        raise BalancerError(
            f"service {first6} is IPv6, and {h.ifname} has no global IPv6 address other "
            "than a VIP to be the outer source of its ip6ip6: give it one (ip -6 addr add) "
            "or attach with --source6, then load again"
        )
    source = abi6.ip6_bytes(own[0].partition("/")[0])
    return [Bpftool.update_cmd(ids["config6"], abi.u32(0), source)]


def _check_sources(
    lists: Sequence[tuple[abi.ServiceKey, Sequence[Destination]]],
    sources: Sequence[tuple[str | None, str]],
) -> None:
    """No VIP or backend is one of the balancer's outer `sources` (each with
    the attach flag that set it), as attach and the config refuse the other
    way round (t19 MEDIUM-B)."""
    for key, dests in lists:
        if key.is_catch_all:
            continue
        for addr, flag in sources:
            if not addr:
                continue
            if key.vip == addr:
                what = "its VIP"
            elif any(d.ip == addr for d in dests):
                what = "backend"
            else:
                continue
            raise BalancerError(
                f"service {key}: {what} {addr} is the balancer's outer source address "
                f"({flag} of attach): the source must be the host's own; attach with "
                f"another {flag} first"
            )


def _vip_filter_cmds(vips: set[str], ids: dict[str, int]) -> list[str]:
    return [
        Bpftool.update_cmd(ids["vip_filter"], abi.u32(i), entry)
        for i, entry in enumerate(abi.pack_vip_filter(vips))
    ]


def _config_cmd(h: Handle, catch_all: bool, ids: dict[str, int]) -> str:
    config = h.config()
    flags = (config.flags | abi.CFG_CATCH_ALL) if catch_all else (config.flags & ~abi.CFG_CATCH_ALL)
    new = dataclasses.replace(config, flags=flags)
    return Bpftool.update_cmd(ids["config"], abi.u32(0), new.pack())


def _mode_of(value: abi.ServiceValue) -> FillMode:
    return FillMode.MAGLEV if value.maglev else FillMode.ROUND_ROBIN


def _check_own_addresses(h: Handle, dests: Sequence[Destination]) -> None:
    """Backends that are the balancer's own address (either family) or its
    IPv4 subnet's broadcast (which only the link's addresses tell)."""
    link = h.link()
    for ip in dict.fromkeys(d.ip for d in dests):
        problem = validation.own_address_problem(ip, (*link.ipv4, *link.ipv6), link.ifname)
        if problem:
            raise BalancerError(problem)


def _check_ring(
    key: abi.ServiceKey, mode: FillMode, size: int, dests: Sequence[Destination], kept: bool
) -> None:
    """Every load and edit passes here, whichever way its ring size came: a
    ring smaller than the backends that take traffic leaves some of them
    none.  A size the service kept from an earlier load is named as such,
    since the command that meets it did not give it."""
    serving = sum(1 for d in dests if d.serving_weight)
    problem = validation.ring_problem(size, mode is FillMode.MAGLEV, serving)
    if problem is None:
        return
    if kept:
        problem = (
            f"service {key} keeps the ring of {size:,} slots an earlier load gave it: "
            f"{problem}; give --ring-size (a prime for maglev) to change it"
        )
    raise BalancerError(problem)


def _listed(found: list[Destination] | None) -> backend_edits.Members | None:
    return None if found is None else tuple(found)
