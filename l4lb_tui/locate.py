"""Finding the balancer an operator names.

Commands take the interface name the operator sees and resolve it in the
network namespace they run in, to the identity (namespace cookie, interface
index) its pins and lock live under.  A name that does not exist there is an
error that names the namespace: never another namespace's balancer.

An index names a link only while it lives: a link made later may be given
it again.  Pins note their link itself (pinning.LINK_PIN, which the kernel
empties when the link is deleted or leaves the namespace), so pins left by
an earlier link are never taken for the new link's balancer.

Pins whose program is the one attached to the named link are this link's
without a doubt, wherever they were made: an older l4lb's (one directory per
interface name), or those of a link that was moved here from another
namespace.  They are adopted here, moved under the identity.  Any other case
is left to `l4lb detach` (cleanup.py), which says whose they are.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import ghosts, pinning, procfs
from l4lb_tui.bpftool import BpfError, Bpftool
from l4lb_tui.errors import BalancerError
from l4lb_tui.identity import BalancerId, Netns, Pinned, Record
from l4lb_tui.lock import LockedError, interface_lock
from l4lb_tui.netlink import LinkInfo, Netlink, NetlinkError, namespaces
from l4lb_tui.paths import PIN_ROOT, pin_root_problem


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
    """Resolve `ifname` where `netlink` works; adopt pins of it made elsewhere."""
    netns = current_netns(netlink)
    index = netlink.index_of(ifname)
    if index is None:
        raise BalancerError(missing(ifname, netns, netlink))
    where = Location(BalancerId(netns.cookie, index), ifname, netns)
    link = netlink.by_index(index)
    if link is not None and link.xdp_prog_id and not where.pin_dir.exists():
        adopt(where, link, bpftool, wait)
    return where


def left_by_another(where: Location, link: LinkInfo) -> bool:
    """Whether the pins under this link's identity are an earlier link's
    that had its index: the kernel let go of the link they note, and their
    program does not run on this one (a link moved away and back runs it
    still)."""
    if pinning.holds_link(where.pin_dir) is not False:
        return False
    prog = pinning.prog_id(where.pin_dir)
    return not (prog and link.xdp_prog_id == prog)


def survey(skipped: list[str] | None = None) -> list[tuple[Netns, list[ghosts.SeenLink]]]:
    """Every reachable namespace's links and their XDP programs; what looked
    like a namespace and was not goes into `skipped`."""

    def links_here() -> list[ghosts.SeenLink]:
        return [ghosts.SeenLink(li.ifindex, li.ifname, li.xdp_prog_id) for li in Netlink().links()]

    try:
        return namespaces.survey(links_here, skipped)
    except NetlinkError as exc:
        raise BalancerError(f"cannot look through the network namespaces: {exc}") from None


def moved_to(pinned: Pinned, command: str = "...") -> str | None:
    """Where the program of pins whose link left runs now, with how to reach
    it there (None: it runs nowhere)."""
    where = ghosts.running(pinned.prog_id, survey())
    if where is None:
        return None
    netns, link = where
    return ghosts.moved(pinned.ifname, netns, link, command)


@dataclass(frozen=True, slots=True)
class Leftover:
    """Pins an earlier link with the index left under a link's identity."""

    where: Location
    old: str  # the name they record
    elsewhere: str | None  # where their program runs now, and how to reach it

    @property
    def whose(self) -> str:
        return (
            f"the pins of {self.old}, the interface that had index "
            f"{self.where.ident.ifindex} in {self.where.netns.place} before"
        )

    @property
    def text(self) -> str:
        head = f"{self.where.pin_dir} holds {self.whose}"
        if self.elsewhere is not None:
            return f"{head}: {self.elsewhere}"
        return f"{head} and was deleted or moved: 'l4lb detach --stale' removes them"


def leftover(where: Location, command: str = "...") -> Leftover:
    """What the pins under `where`'s identity that an earlier link left are,
    and where their program runs if it does (on the link they were made
    for, moved to another namespace)."""
    pinned = pinning.found(where.pin_dir)
    if pinned is None:
        return Leftover(where, "?", None)
    return Leftover(where, pinned.ifname, moved_to(pinned, command))


def renamed(ifname: str, now: str) -> str:
    """What to say of a link looked for as `ifname` and found named `now`:
    the same name when it was renamed back meanwhile (a race)."""
    if now == ifname:
        return (
            "it was renamed while the command looked for it, and has its name again: run it again"
        )
    return f"it was renamed to {now} (use -i {shlex.quote(now)})"


def renamed_to(ifname: str, netlink: Netlink) -> str | None:
    """The name the link of a balancer whose pins record it as `ifname` has
    now, when it was renamed (None: `ifname` exists, or names no such link)."""
    if netlink.index_of(ifname) is not None:
        return None
    for pinned in pinning.in_namespace(current_netns(netlink).cookie):
        if pinned.record is None or not pinned.record.answers_to(ifname) or not pinned.ident:
            continue
        now = netlink.name_of(pinned.ident.ifindex)
        if now is not None and now != ifname and pinned.holds_link is not False:
            return now
    return None


def missing(ifname: str, netns: Netns, netlink: Netlink) -> str:
    """Why `ifname` names nothing here, with what its pins say of it."""
    text = f"interface {ifname} does not exist in {netns.place}"
    for pinned in pinning.in_namespace(netns.cookie):
        if pinned.record is None or not pinned.record.answers_to(ifname) or not pinned.ident:
            continue
        now = netlink.name_of(pinned.ident.ifindex)
        if now is not None and pinned.holds_link is not False:
            return f"{text}: {renamed(ifname, now)}"
        elsewhere = None
        # Only what to say depends on it: `detach` surveys again, and
        # refuses if it cannot.
        with contextlib.suppress(BalancerError):
            elsewhere = moved_to(pinned)
        if elsewhere is not None:
            return f"{text}: {elsewhere}"
        return (
            f"{text}: it was deleted, and its balancer's pins are left "
            f"('l4lb detach -i {ifname}' removes them)"
        )
    if pinning.has_legacy(ifname):
        return f"{text} ({legacy_note(ifname)})"
    return text


def legacy_note(ifname: str) -> str:
    return (
        f"{pinning.legacy_dir(ifname)} holds pins an earlier l4lb made for an interface "
        f"{ifname}, of any namespace: 'l4lb detach --stale' says whose they are"
    )


def note_name(where: Location, link: LinkInfo, bpftool: Bpftool) -> None:
    """Record the name the balancer's interface has now, and the one before;
    note the link itself if the pins do not (made before the note, or the
    link moved away and back) and their program runs on it."""
    old = pinning.read_record(where.pin_dir)
    if old is None or old.ifname != link.ifname:
        was = old.ifname if old else ""
        pinning.write_record(bpftool, where.pin_dir, where.record(link.ifname, was))
    if pinning.holds_link(where.pin_dir) is not True:
        prog = pinning.prog_id(where.pin_dir)
        if prog and prog == link.xdp_prog_id:
            pinning.write_link(bpftool, where.pin_dir, link.ifindex)


def with_balancer(links: Sequence[LinkInfo], netns: Netns) -> set[int]:
    """The indexes of the links of `netns` that have a balancer: pins under
    their identity (not left by an earlier link with the index), or pins made
    elsewhere whose program runs on them (adopted when a command names the
    link)."""
    try:
        names = {p.name for p in PIN_ROOT.iterdir()}
    except OSError:  # no bpffs, or not root: nothing to show
        return set()
    found = set()
    for li in links:
        where = Location(BalancerId(netns.cookie, li.ifindex), li.ifname, netns)
        if where.ident.dirname in names and not left_by_another(where, li):
            found.add(li.ifindex)
    if any(li.xdp_prog_id and li.ifindex not in found for li in links):
        running = {p.prog_id for p in pinning.listing()}
        found |= {li.ifindex for li in links if li.xdp_prog_id and li.xdp_prog_id in running}
    return found


def require_pin_root() -> None:
    """Refuse a command where no balancer's pins can be seen or kept (see
    paths.pin_root_problem): better said than "no balancer" or "not this
    balancer's program" about one that runs."""
    problem = pin_root_problem(PIN_ROOT, procfs.mounts())
    if problem:
        raise BalancerError(problem)


def unpinned(where: Location, prog: int) -> str | None:
    """What to say of an l4lb program that runs on the interface with no
    pins (bpffs remounted empty, its directory removed), or None: it is
    this product's, not "another program" to detach without a thought."""
    if not prog or pinning.with_program(prog) is not None or not pinning.is_l4lb_program(prog):
        return None
    return (
        f"{where.ifname} runs an l4lb balancer (XDP program id {prog}) whose pins are gone "
        f"(bpffs remounted or {PIN_ROOT} emptied?): it balances on, but no command can reach "
        f"its maps. To manage it again: 'ip link set dev {where.ifname} xdp off', then "
        f"'{where.netns.command(f'l4lb attach -i {shlex.quote(where.ifname)}')}' and load its "
        "services again (its VIPs are not balanced in between)"
    )


def no_balancer(where: Location, advice: str = "") -> str:
    """`no balancer on ...`, with pins an earlier link, or an older l4lb,
    left under the name or index pointed out.  The advice given, or how to
    attach one (with the --netns the command was run with)."""
    attach = where.netns.command(f"l4lb attach -i {shlex.quote(where.ifname)}")
    advice = advice or f"run '{attach}' first"
    text = f"no balancer on {where.ifname} in {where.netns.place}: {advice}"
    if (where.pin_dir / "prog").exists():
        # Pins are there, but not this link's balancer.
        return f"{text} ({leftover(where).text})"
    if pinning.has_legacy(where.ifname):
        return f"{text} ({legacy_note(where.ifname)})"
    return text


@contextlib.contextmanager
def both_locks(first: str, second: str, wait: float, shown: str) -> Iterator[int]:
    """The locks of two pin directories (by their names): where pins are,
    and where they go."""
    try:
        with interface_lock(first, wait, shown), interface_lock(second, wait, shown) as fd:
            yield fd
    except LockedError as exc:
        raise BalancerError(str(exc)) from None


def adopt(where: Location, link: LinkInfo, bpftool: Bpftool, wait: float) -> bool:
    """Move pins made elsewhere under this link's identity, if they are this
    link's: their program is the one attached to it.  An older l4lb's (made
    under whatever name: the link may have been renamed since), or a link's
    that was moved here from another namespace (the kernel let go of the
    link they noted when it left)."""
    if not link.xdp_prog_id or where.pin_dir.exists():
        return False
    old = pinning.with_program(link.xdp_prog_id)
    if old is None or old.holds_link:
        # None: nobody's; True: its own link still holds it (attached here
        # by hand as well).
        return False
    was = old.ifname if old.ifname != link.ifname else (old.record.was if old.record else "")
    with both_locks(where.ident.dirname, old.path.name, wait, where.ifname):
        if where.pin_dir.exists() or pinning.prog_id(old.path) != link.xdp_prog_id:
            return False  # adopted by another command meanwhile
        try:
            # One rename: the program and maps stay as they are, and the
            # data plane never notices.
            os.rename(old.path, where.pin_dir)
            pinning.write_record(bpftool, where.pin_dir, where.record(link.ifname, was))
            pinning.write_link(bpftool, where.pin_dir, link.ifindex)
        except OSError as exc:
            raise BalancerError(f"cannot adopt the pins in {old.path}: {exc.strerror}") from None
        except BpfError as exc:
            raise BalancerError(f"cannot record the identity of {where.ifname}: {exc}") from None
    return True
