"""Switching a running balancer between driver and generic XDP.

The kernel runs one of the two modes on an interface at a time, so a switch
takes the program off and puts it back on: two netlink requests on one
socket (`Netlink.switch_xdp`), about a millisecond apart.  The program and
its maps stay as they are, so flows keep their backends.  In the gap the
host's own stack, which holds the VIP, would answer the services' packets
with TCP resets and ICMP port unreachables; the guard (bpf/l4lb_guard.c), a
TC ingress program attached for the switch only, drops exactly those
packets instead, and clients retransmit them.
"""

from __future__ import annotations

import contextlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import bpfsys
from l4lb_tui.bpftool import BpfError, Bpftool
from l4lb_tui.netlink import Netlink, NetlinkError
from l4lb_tui.netlink.xdpswitch import XdpSwitch

GUARD_OBJ = "l4lb_guard.o"
# Under the balancer's pin directory: whatever a killed switch leaves there
# goes with the next switch or with `detach`.
GUARD_DIR = "guard"
# struct guard_stats in l4lb_guard.c
_STATS = struct.Struct("<4Q")
SWITCHABLE = ("driver", "generic")


# Why a switch between driver and generic cannot be gapless, and what its gap
# costs; said before every such switch (CLI, console).
SWITCH_COST = (
    "the kernel runs one mode at a time, so the program is detached and attached "
    "again: for about a millisecond the services' packets are dropped and clients "
    "retransmit them; no connection is reset"
)


def gap_warning(ifname: str, old: str, new: str) -> str:
    """What the operator hears before a switch that cannot be gapless."""
    return f"switching {ifname} from {old} to {new} mode: {SWITCH_COST}"


@dataclass(frozen=True, slots=True)
class Held:
    """What the guard dropped: packets, bytes, and the clock readings
    (CLOCK_MONOTONIC ns) of the first and the last."""

    pkts: int = 0
    bytes: int = 0
    first_ns: int = 0
    last_ns: int = 0


@dataclass(frozen=True, slots=True)
class SwitchReport:
    ifname: str
    old: str
    new: str
    timing: XdpSwitch
    held: Held | None  # None: no guard, or its counter could not be read
    guard_problem: str = ""

    def message(self) -> str:
        gap = f"gap {self.timing.gap_ns / 1e6:.2f} ms"
        if self.guard_problem:
            tail = (
                f"{gap}, unguarded ({self.guard_problem}): connections that sent "
                "in the gap may have been reset"
            )
        elif self.held is None:
            tail = gap
        elif self.held.pkts:
            packets = "1 packet" if self.held.pkts == 1 else f"{self.held.pkts} packets"
            tail = f"{gap}, {packets} held back for the clients to retransmit"
        else:
            tail = f"{gap}, no packet arrived in it"
        return f"switched {self.ifname} from {self.old} to {self.new} mode ({tail})"


def held_from(dump: bpfsys.ArrayDump) -> Held:
    """The guard's per-CPU counter, summed (stamps: earliest first, latest last)."""
    cpus = [_STATS.unpack_from(v) for v in dump.values()[0]] if dump.count else []
    firsts = [c[2] for c in cpus if c[2]]
    return Held(
        pkts=sum(c[0] for c in cpus),
        bytes=sum(c[1] for c in cpus),
        first_ns=min(firsts, default=0),
        last_ns=max((c[3] for c in cpus), default=0),
    )


class Guard:
    """The guard on one interface, from install to removal."""

    def __init__(
        self, bpftool: Bpftool, netlink: Netlink, ifname: str, pin_dir: Path, obj: Path
    ) -> None:
        self.bpftool = bpftool
        self.netlink = netlink
        self.ifname = ifname
        self.maps_dir = pin_dir / "maps"
        self.dir = pin_dir / GUARD_DIR
        self.obj = obj
        self.link_fd = -1

    def load(self) -> int:
        """Load the guard on the balancer's own maps; its program's fd."""
        self.bpftool.unpin_tree(self.dir)
        self.dir.mkdir()
        stats = self.dir / "stats"
        self.bpftool.map_create(stats, "percpu_array", 4, _STATS.size, 1, "guard_stats")
        maps = {pin.name: pin for pin in self.maps_dir.iterdir()}
        maps["guard_stats"] = stats
        prog = self.dir / "prog"
        self.bpftool.prog_load_sharing(self.obj, prog, maps)
        fd = bpfsys.obj_get(prog)
        # Only the link keeps it from here on (see install).
        prog.unlink()
        return fd

    def install(self) -> None:
        """Attach the guard at TC ingress (tcx): no qdisc is made or touched,
        and the link is held only by this process, so a switch killed half
        way leaves no guard behind dropping traffic."""
        prog_fd = self.load()
        try:
            ifindex = self.netlink.link(self.ifname).ifindex
            self.link_fd = self.netlink.call_inside(
                lambda: bpfsys.tcx_ingress_link(prog_fd, ifindex)
            )
        finally:
            os.close(prog_fd)

    def remove(self) -> Held | None:
        """Detach the guard; what it dropped (None if that cannot be read)."""
        if self.link_fd >= 0:
            os.close(self.link_fd)
            self.link_fd = -1
        held = None
        with contextlib.suppress(bpfsys.BpfSysError, OSError):
            held = held_from(bpfsys.read_array(self.dir / "stats"))
        with contextlib.suppress(BpfError):
            self.bpftool.unpin_tree(self.dir)
        return held


def switch(
    bpftool: Bpftool,
    netlink: Netlink,
    ifname: str,
    pin_dir: Path,
    guard_obj: Path,
    old: str,
    new: str,
) -> SwitchReport:
    """Switch the pinned program on `ifname` from `old` to `new` mode, guarded.

    A guard that cannot be installed (a kernel before tcx, 6.6) does not stop
    the switch: the report says so.  A mode the kernel refuses leaves the
    old one attached and raises NetlinkError with the kernel's message.
    """
    guard = Guard(bpftool, netlink, ifname, pin_dir, guard_obj)
    problem = ""
    try:
        guard.install()
    except (BpfError, bpfsys.BpfSysError, NetlinkError, OSError) as exc:
        problem = str(exc)
    try:
        prog_fd = bpfsys.obj_get(pin_dir / "prog")
        try:
            timing = netlink.switch_xdp(ifname, prog_fd, old, new)
        finally:
            os.close(prog_fd)
    finally:
        # Also after a half-made install: it removes whatever was made.
        held = guard.remove()
    return SwitchReport(ifname, old, new, timing, None if problem else held, problem)
