"""Finding the balancer an operator names.

Commands take the interface name the operator sees and resolve it in the
network namespace they run in, to the identity (namespace cookie, interface
index) its pins and lock live under.  A name that does not exist there is an
error that names the namespace: never another namespace's balancer.

Pins an older l4lb made (one directory per interface name) are adopted here,
moved under the identity, when their program is the one attached to the
named link: then they are this link's without a doubt.  Any other case is
left to `l4lb detach` (cleanup.py), which says whose they are.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import pinning
from l4lb_tui.bpftool import BpfError, Bpftool
from l4lb_tui.errors import BalancerError
from l4lb_tui.identity import BalancerId, Netns, Record
from l4lb_tui.lock import LockedError, interface_lock
from l4lb_tui.netlink import LinkInfo, Netlink, NetlinkError, namespaces
from l4lb_tui.paths import PIN_ROOT


@dataclass(frozen=True, slots=True)
class Location:
    """A balancer's identity, and the name and namespace it was found by."""

    ident: BalancerId
    ifname: str
    netns: Netns

    @property
    def pin_dir(self) -> Path:
        return pinning.pin_dir(self.ident)

    def record(self, ifname: str | None = None, was: str = "") -> Record:
        return Record.of(self.ident, ifname or self.ifname, self.netns, was)


def current_netns(netlink: Netlink) -> Netns:
    """The namespace `netlink` works in (the calling thread's, or its named one)."""
    try:
        return netlink.call_inside(namespaces.here)
    except NetlinkError as exc:
        raise BalancerError(str(exc)) from None


def locate(ifname: str, netlink: Netlink, bpftool: Bpftool, wait: float = 0.0) -> Location:
    """Resolve `ifname` where `netlink` works; adopt an older l4lb's pins of it."""
    netns = current_netns(netlink)
    index = netlink.index_of(ifname)
    if index is None:
        raise BalancerError(missing(ifname, netns, netlink))
    where = Location(BalancerId(netns.cookie, index), ifname, netns)
    if not where.pin_dir.exists() and pinning.legacy_programs():
        link = netlink.by_index(index)
        if link is not None:
            adopt_legacy(where, link, bpftool, wait)
    return where


def missing(ifname: str, netns: Netns, netlink: Netlink) -> str:
    """Why `ifname` names nothing here, with what its pins say of it."""
    text = f"interface {ifname} does not exist in {netns.place}"
    for pinned in pinning.in_namespace(netns.cookie):
        if pinned.record is None or not pinned.record.answers_to(ifname) or not pinned.ident:
            continue
        now = netlink.name_of(pinned.ident.ifindex)
        if now is not None:
            return f"{text}: it was renamed to {now} (use -i {now})"
        return (
            f"{text}: it was deleted, and its balancer's pins are left "
            f"('l4lb detach -i {ifname}' removes them)"
        )
    if pinning.legacy_dir(ifname).is_dir():
        return f"{text} ({legacy_note(ifname)})"
    return text


def legacy_note(ifname: str) -> str:
    return (
        f"{pinning.legacy_dir(ifname)} holds pins an earlier l4lb made for an interface "
        f"{ifname}, of any namespace: 'l4lb detach --stale' says whose they are"
    )


def note_name(where: Location, ifname: str, bpftool: Bpftool) -> None:
    """Record the name the balancer's interface has now, and the one before."""
    old = pinning.read_record(where.pin_dir)
    if old is None or old.ifname != ifname:
        was = old.ifname if old else ""
        pinning.write_record(bpftool, where.pin_dir, where.record(ifname, was))


def with_balancer(links: Sequence[LinkInfo], netns: Netns) -> set[int]:
    """The indexes of the links of `netns` that have a balancer: pins under
    their identity, or an older l4lb's whose program runs on them (adopted
    when a command names the link)."""
    try:
        names = {p.name for p in PIN_ROOT.iterdir()}
    except OSError:  # no bpffs, or not root: nothing to show
        return set()
    ours = {li.ifindex for li in links if BalancerId(netns.cookie, li.ifindex).dirname in names}
    legacy = pinning.legacy_programs()
    return ours | {li.ifindex for li in links if li.xdp_prog_id and li.xdp_prog_id in legacy}


def no_balancer(where: Location) -> str:
    """`no balancer on ...`, with older pins of the same name pointed out."""
    text = (
        f"no balancer on {where.ifname} in {where.netns.place}: "
        f"run 'l4lb attach -i {where.ifname}' first"
    )
    if pinning.legacy_dir(where.ifname).is_dir():
        return f"{text} ({legacy_note(where.ifname)})"
    return text


@contextlib.contextmanager
def both_locks(ident: BalancerId, legacy: str, wait: float, shown: str) -> Iterator[int]:
    """The identity's lock and the one an older l4lb takes for the name."""
    try:
        with interface_lock(ident.dirname, wait, shown), interface_lock(legacy, wait, shown) as fd:
            yield fd
    except LockedError as exc:
        raise BalancerError(str(exc)) from None


def adopt_legacy(where: Location, link: LinkInfo, bpftool: Bpftool, wait: float) -> bool:
    """Move an older l4lb's pins of this link under its identity, if they are
    this link's: their program is the one attached to it (under whatever
    name they were made: the link may have been renamed since)."""
    if not link.xdp_prog_id or where.pin_dir.exists():
        return False
    old = pinning.legacy_running(link.xdp_prog_id)
    if old is None:
        return False
    with both_locks(where.ident, old.name, wait, where.ifname):
        if where.pin_dir.exists() or pinning.prog_id(old) != link.xdp_prog_id:
            return False  # adopted by another command meanwhile
        try:
            # One rename: the program and maps stay as they are, and the
            # data plane never notices.
            os.rename(old, where.pin_dir)
            pinning.write_record(bpftool, where.pin_dir, where.record())
        except OSError as exc:
            raise BalancerError(f"cannot adopt the pins in {old}: {exc.strerror}") from None
        except BpfError as exc:
            raise BalancerError(f"cannot record the identity of {where.ifname}: {exc}") from None
    return True
