"""The balancer's program on its interface: load, configure and attach it,
switch its mode, detach it; and what attaching tells an operator."""

from __future__ import annotations

import gzip
import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import abi, abi6, bpfsys, flowsize, pinning
from l4lb_tui.bpftool import STAGING_ROOT, BpfError
from l4lb_tui.control import flowtable, modeswitch, offload
from l4lb_tui.control.handle import Handle
from l4lb_tui.errors import BalancerError
from l4lb_tui.identity import netns_name_problem
from l4lb_tui.locate import leftover, moved_to, no_balancer, unpinned
from l4lb_tui.lock import lock_path
from l4lb_tui.netlink import LinkInfo

DRIVER_OBJ = "l4lb_xdp.o"
OFFLOAD_OBJ = "l4lb_xdp_offload.o"
DEFAULT_SADDR = "10.0.0.1"
# Debian's kernels; used only when the kernel's config cannot be read.
DEFAULT_HZ = 250
MODES = ("driver", "generic", "offload")


@dataclass(frozen=True, slots=True)
class Sizing:
    """The flow table asked for at attach (None: the default for a new
    load, whatever runs for a loaded one), and who hears its memory before
    it is allocated."""

    flows: int | None = None
    say: Callable[[str], None] | None = None
    flows6: int | None = None  # IPv6's table, the same way


def attach(
    h: Handle,
    mode: str,
    saddr: str | None,
    warn: Callable[[str], None] | None,
    sizing: Sizing = Sizing(),
    saddr6: str | None = None,
) -> str:
    """Load (if needed), configure and attach; return what was done.

    `warn` hears, before it happens, of a switch that cannot be gapless.
    `saddr6`, the outer source of ip6ip6, is kept from an earlier attach
    when not given (none at first: IPv6 services are refused without one).
    """
    with h.writing():
        done = _attach(h, mode, saddr, warn, sizing)
        if saddr6 is not None:
            before = h.source6()
            h.bpftool.map_update(h.map_pin("config6"), abi.u32(0), abi6.ip6_bytes(saddr6))
            was = f" (was {before})" if before and before != saddr6 else ""
            done += f", outer IPv6 source {saddr6}{was}"
        return done


def _attach(
    h: Handle, mode: str, saddr: str | None, warn: Callable[[str], None] | None, sizing: Sizing
) -> str:
    if mode not in MODES:
        raise BalancerError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    link = h.link()
    if mode == "offload" and not link.can_offload:
        # Decided from the driver, before libbpf's map-by-map refusal.
        raise BalancerError(
            f"{link.ifname} ({link.driver or link.kind or 'no driver'}) cannot offload XDP "
            "(offload needs a Netronome NFP): use --mode driver; the running state is unchanged"
        )
    h.bpftool.ensure_bpffs()
    h.require_pins()
    current = h.attachment()
    loaded = h.is_loaded()
    problem = None if loaded else netns_name_problem(h.where.netns.name)
    if problem:
        raise BalancerError(problem)
    ours = loaded and current is not None and current.prog_id == h.prog_id()
    if current is not None and not ours:
        orphan = None if loaded else unpinned(h.where, current.prog_id)
        if orphan:
            raise BalancerError(orphan)
        raise BalancerError(
            f"{h.ifname} already runs XDP program id {current.prog_id} in "
            f"{current.mode} mode, not this balancer: detach it first "
            f"('ip link set dev {h.ifname} xdp off')"
        )
    if mode == "offload":
        staging = STAGING_ROOT / h.pin_dir.name
        offload.refuse(h.bpftool, h.bpf_object(OFFLOAD_OBJ), h.ifname, staging)
    changed = ""
    if not loaded:
        changed = _clear_left(h)
        _load(h, link, saddr or DEFAULT_SADDR, sizing)
    else:
        h.check_layout()
        flowtable.refuse_resize(h, sizing.flows)
        flowtable.refuse_resize(h, sizing.flows6, "flows6")
        # Re-attaching refreshes what the program copies from the link
        # (MAC, MTU), so an operator can pick up an MTU change.
        changed = _write_config(h, link, saddr)
    said = f"; {changed}" if changed else ""
    if ours and current is not None and current.mode == mode:
        return f"already attached to {h.ifname} in {mode} mode{said}"
    if ours and current is not None:
        return _switch_mode(h, current.mode, mode, warn) + said
    try:
        h.bpftool.net_attach(mode, h.prog_pin, h.ifname)
    except BpfError:
        if not loaded:
            h.bpftool.unpin_tree(h.pin_dir)
        raise
    return f"attached to {h.ifname} in {mode} mode{said}"


def _switch_mode(h: Handle, old: str, new: str, warn: Callable[[str], None] | None) -> str:
    """Driver <-> generic on a running balancer: see modeswitch."""
    if old not in modeswitch.SWITCHABLE:
        detach = h.where.netns.command(f"l4lb detach -i {shlex.quote(h.ifname)}")
        raise BalancerError(
            f"{h.ifname} runs this balancer in {old} mode, which cannot be switched: "
            f"run '{detach}', then attach in {new} mode"
        )
    guard = h.bpf_object(modeswitch.GUARD_OBJ)
    if warn is not None:
        warn(modeswitch.gap_warning(h.ifname, old, new))
    try:
        report = modeswitch.switch(h.bpftool, h.netlink, h.ifname, h.pin_dir, guard, old, new)
    except bpfsys.BpfSysError as exc:
        raise BalancerError(f"cannot switch {h.ifname} to {new} mode: {exc}") from None
    return report.message()


def _clear_left(h: Handle) -> str:
    """Remove the pins an earlier link with this index left (what was
    removed; "": none), unless their program still runs elsewhere."""
    if not h.pins_left_by_another():
        return ""
    left = leftover(h.where, "attach")
    if left.elsewhere is not None:
        raise BalancerError(f"cannot attach to {h.ifname}: {left.text}")
    h.bpftool.unpin_tree(h.pin_dir)
    return f"removed {h.pin_dir}, {left.whose}"


def _load(h: Handle, link: LinkInfo, saddr: str, sizing: Sizing) -> None:
    obj = h.bpf_object(DRIVER_OBJ)
    flows = sizing.flows or flowsize.DEFAULT_FLOWS
    flows6 = sizing.flows6 or flowsize.DEFAULT_FLOWS6
    if sizing.say is not None:
        sizing.say(flowsize.describe(flows))
        sizing.say(flowsize.describe6(flows6))
    h.bpftool.unpin_tree(h.pin_dir)  # a stale half-made pin dir
    h.pin_dir.mkdir(parents=True, exist_ok=True)
    try:
        with flowtable.created(h, flows, flows6) as given:
            h.bpftool.prog_load(obj, h.prog_pin, h.maps_dir, given=given)
        pinning.write_record(h.bpftool, h.pin_dir, h.where.record(link.ifname))
        pinning.write_link(h.bpftool, h.pin_dir, link.ifindex)
        _write_config(h, link, saddr, flowsize.config_flags(0, flows, flows6))
    except BpfError as exc:
        h.bpftool.unpin_tree(h.pin_dir)
        if (short := no_memory(exc, flows, flows6)) is not None:
            raise BalancerError(short) from None
        raise


def no_memory(exc: BpfError, flows: int, flows6: int = flowsize.DEFAULT_FLOWS6) -> str | None:
    """A load the kernel had no memory for, said with the tables' sizes and
    a smaller one to try: the larger table's, the one most likely refused
    (None: another failure, said as bpftool says it)."""
    if "Cannot allocate memory" not in exc.message:
        return None
    v4, v6 = flowsize.memory_bytes(flows), flowsize.memory_bytes6(flows6)
    name, option, size, memory = (
        ("IPv6 flow table", "--flows6", flows6, flowsize.memory_bytes6)
        if v6 > v4
        else ("flow table", "--flows", flows, flowsize.memory_bytes)
    )
    what = f"{flowsize.mib(v4 + v6)} of flow tables ({name} {flowsize.human(size)})"
    why = "the kernel refused it (low on memory, or a memory cgroup's limit)"
    smaller = [n for n in (size // 2, size // 4) if n >= 1 << flowsize.MIN_LOG2]
    if not smaller:
        return f"cannot allocate the {what}: {why}; nothing was attached"
    # Two sizes down: the next one may be refused too (t18 LOW-5).
    sizes = ", ".join(f"{flowsize.human(n)} {flowsize.mib(memory(n))}" for n in smaller)
    return (
        f"cannot allocate the {what}: {why}; a smaller {option} needs less ({sizes}); "
        "nothing was attached"
    )


def _write_config(h: Handle, link: LinkInfo, saddr: str | None, flags: int | None = None) -> str:
    """Write the config; what it changed that an operator set or the link
    did ("": nothing): an attach again must not change it silently."""
    old = h.config()
    hz = kernel_hz()
    new = abi.Config(
        saddr=saddr or (old.saddr if old.saddr != "0.0.0.0" else DEFAULT_SADDR),
        ifmac=link.mac,
        flags=old.flags if flags is None else flags,
        mtu=link.mtu,
        ttl=tuple(abi.FLOW_TTL.get(abi.FlowState(i), 0) * hz for i in range(len(abi.FlowState))),
    )
    h.bpftool.map_update(h.map_pin("config"), abi.u32(0), new.pack())
    return config_changes(old, new)


def detach(h: Handle) -> str:
    with h.writing():
        done = _detach(h)
        # Unlinked while held: see interface_lock.
        lock_path(h.pin_dir.name).unlink(missing_ok=True)
        return done


def _detach(h: Handle) -> str:
    h.require_pins()
    if not h.link_exists():
        # The interface is gone, and its program with it (unless it went to
        # another namespace: then its pins are what it runs on): only the
        # pins are left to clean.
        pinned = pinning.found(h.pin_dir)
        elsewhere = moved_to(pinned, "detach") if pinned is not None else None
        if elsewhere is not None:
            raise BalancerError(f"{h.ifname} is not in {h.where.netns.place} any more: {elsewhere}")
        h.bpftool.unpin_tree(h.pin_dir)
        return f"{h.ifname} no longer exists in {h.where.netns.place}; removed its pins"
    current = h.attachment()
    if not h.is_loaded():
        orphan = None if current is None else unpinned(h.where, current.prog_id)
        if orphan:
            raise BalancerError(orphan)
        if current is not None:
            raise BalancerError(
                f"{h.ifname} runs XDP program id {current.prog_id}, which is not "
                "this balancer's: not touching it"
            )
        raise BalancerError(no_balancer(h.where, "nothing to detach"))
    msg = f"no program was attached to {h.ifname}; removed its pins"
    if current is not None:
        if current.prog_id != h.prog_id():
            h.bpftool.unpin_tree(h.pin_dir)
            return (
                f"{h.ifname} now runs another program (id {current.prog_id}); "
                "left it alone and removed this balancer's stale pins"
            )
        h.bpftool.net_detach(current.mode, h.ifname)
        msg = f"detached from {h.ifname} ({current.mode} mode)"
    h.bpftool.unpin_tree(h.pin_dir)
    return msg


def vlan_warning(ifname: str, vlans: Sequence[str]) -> str | None:
    """Many NICs strip a VLAN tag before XDP runs, and the program cannot see
    it: say so when the interface carries VLAN sub-interfaces."""
    if not vlans:
        return None
    shown = ", ".join(vlans[:3]) + (f" and {len(vlans) - 3} more" if len(vlans) > 3 else "")
    return (
        f"{ifname} carries VLAN sub-interfaces ({shown}): if the NIC strips their "
        "tags, their traffic to a VIP is balanced as untagged; "
        f"'ethtool -K {ifname} rxvlan off' keeps tags in the frame, where the "
        "balancer passes them to the kernel"
    )


def config_changes(old: abi.Config, new: abi.Config) -> str:
    """What an attach again changed: the source address it was given, what
    it copied from the link ("": nothing)."""
    changed = [
        f"{what} {now} (was {before})"
        for what, before, now in (
            ("source address", old.saddr, new.saddr),
            ("MAC", old.ifmac, new.ifmac),
            ("MTU", old.mtu, new.mtu),
        )
        if before != now
    ]
    return ", ".join(changed)


def kernel_hz() -> int:
    """The kernel's HZ, for flow lifetimes in jiffies (the data plane's clock)."""
    for path in ("/proc/config.gz", f"/boot/config-{os.uname().release}"):
        try:
            raw = Path(path).read_bytes()
        except OSError:
            continue
        text = gzip.decompress(raw) if path.endswith(".gz") else raw
        for line in text.decode(errors="replace").splitlines():
            if line.startswith("CONFIG_HZ="):
                return int(line.split("=", 1)[1])
    return DEFAULT_HZ


def attachment_problem(h: Handle) -> str | None:
    """Why a loaded balancer gets no traffic though the commands on it
    succeed: its program was detached, or replaced, outside l4lb.  None when
    it runs."""
    attach = h.where.netns.command(f"l4lb attach -i {shlex.quote(h.ifname)}")
    current = h.attachment()
    if current is None:
        return (
            f"the balancer is loaded but not attached to {h.ifname} (detached by someone "
            f"else?): no traffic reaches it; its backends are kept, '{attach}' attaches it again"
        )
    if current.prog_id != h.prog_id():
        return (
            f"{h.ifname} now runs another XDP program (id {current.prog_id}); this balancer "
            f"gets no traffic: remove that one ('ip link set dev {h.ifname} xdp off'), "
            f"then '{attach}'"
        )
    return None


# ip6ip6 adds 40 bytes, and every IPv6 link carries 1280-byte packets (RFC
# 8200 5): below this a full-size packet to a v6 VIP can never pass, and
# the Packet Too Big it gets names an MTU under 1280, which hosts may ignore.
MTU6_MIN = 1280 + 40


def mtu6_warning(ifname: str, mtu: int, v6_services: int) -> str | None:
    """What to tell an operator whose link is too small for IPv6 services."""
    if not v6_services or not mtu or mtu >= MTU6_MIN:
        return None
    return (
        f"{ifname}'s MTU {mtu} is under {MTU6_MIN}: IPv6 services need 1280 + 40 "
        "(ip6ip6), and 1280-byte IPv6 packets to their VIPs are dropped; "
        f"'ip link set dev {ifname} mtu {MTU6_MIN}' or more"
    )
