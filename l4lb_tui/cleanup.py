"""`l4lb detach`: a balancer by the name the operator sees, also once its
interface is gone, and `l4lb detach --stale`: every pin directory whose
balancer no longer runs anywhere.

A deleted interface takes its XDP program with it, but not the pins: they
keep the program and maps alive.  They are found by the name they record
(`detach -i OLDNAME`, in the namespace the interface was in), or by a survey
of every namespace (`--stale`).  Nothing that still runs is ever removed.
"""

from __future__ import annotations

import shlex

from l4lb_tui import ghosts, pinning
from l4lb_tui.balancer import Balancer
from l4lb_tui.bpftool import BpfError, Bpftool
from l4lb_tui.daemon import claim
from l4lb_tui.errors import BalancerError
from l4lb_tui.health.adapters.tunnel import ProbeTunnel, TunnelError
from l4lb_tui.identity import Netns, Pinned
from l4lb_tui.locate import (
    current_netns,
    missing,
    moved_to,
    renamed,
    require_pin_root,
    survey,
)
from l4lb_tui.lock import LockedError, interface_lock, lock_path
from l4lb_tui.netlink import Netlink, namespaces


def detach(
    ifname: str, wait: float = 0.0, netlink: Netlink | None = None, bpftool: Bpftool | None = None
) -> str:
    """Detach the balancer of `ifname` (resolved here), or remove what is
    left of it, and an earlier l4lb's pins of the name whose program runs
    nowhere; one line saying what was done."""
    netlink = netlink or Netlink()
    bpftool = bpftool or Bpftool()
    require_pin_root()
    if netlink.index_of(ifname) is None:
        return _detach_missing(ifname, netlink, wait)
    bal = Balancer(ifname, bpftool, netlink, wait=wait)
    if not pinning.has_legacy(bal.ifname):
        return _and_tunnel(bal.detach(), bal.ifname, netlink)
    # Surveyed before anything changes: if that fails, nothing has.
    seen = survey()
    if not bal.is_loaded():
        return _detach_legacy(bal.ifname, wait, seen)
    # An earlier l4lb's pins of the name go with the same command.
    done = bal.detach()
    done = f"{done}; {_detach_legacy(bal.ifname, wait, seen, refuse=False)}"
    return _and_tunnel(done, bal.ifname, netlink)


def _and_tunnel(done: str, ifname: str, netlink: Netlink) -> str:
    """`done`, and the probe tunnel a killed daemon left on `ifname` undone
    (its rules, routes and accept_local): only while no daemon runs
    anywhere, since a live one's tunnel is its own."""
    if claim.any_live():
        return done
    netns = current_netns(netlink)
    try:
        if ProbeTunnel.sweep(ifname, netns.name or None):
            return f"{done}; undid the probe tunnel a killed daemon left in {netns.place}"
    except TunnelError as exc:
        return f"{done}; the probe tunnel a killed daemon left stays: {exc}"
    return done


def detach_stale(
    wait: float = 0.0,
    dry_run: bool = False,
    ifname: str | None = None,
    netlink: Netlink | None = None,
) -> list[str]:
    """Remove every stale pin directory (with `ifname`: those recorded under
    that name in the namespace this runs in); a line for each one removed
    (or, `dry_run`, that would be), each one kept and why, and each name
    under /run/netns that is not a namespace."""
    require_pin_root()
    # Listed before the survey: a namespace or link that existed when its
    # pins were listed is then surely in the survey, unless it is gone.
    found = pinning.listing()
    skipped: list[str] = []
    seen = survey(skipped)
    scope = ""
    if ifname is not None:
        netns = current_netns(netlink or Netlink())
        found = [p for p in found if _recorded_as(p, ifname, netns)]
        scope = f" for {ifname} in {netns.place}"
    gone, kept = [], []
    for verdict in (ghosts.judge(p, seen) for p in found):
        path = verdict.pinned.path
        if not verdict.stale:
            kept.append(f"kept {path}: {verdict.why}")
        elif dry_run:
            gone.append(f"would remove {path} ({verdict.why})")
        else:
            _remove(verdict.pinned, wait)
            gone.append(f"removed {path} ({verdict.why})")
    return [*(gone or [f"no stale pins{scope}"]), *kept, *map(_skipped, skipped)]


def _recorded_as(pinned: Pinned, ifname: str, netns: Netns) -> bool:
    if pinned.legacy:
        return pinned.ifname == ifname
    here = pinned.ident is not None and pinned.ident.netns_cookie == netns.cookie
    return here and pinned.record is not None and pinned.record.answers_to(ifname)


def _skipped(path: str) -> str:
    """What to say of a path the survey found no namespace at."""
    text = f"skipped {path}: not a network namespace"
    name = path.removeprefix(f"{namespaces.NETNS_DIR}/")
    if name != path:
        text += (
            " (a name an interrupted 'ip netns add' left with no namespace on it: "
            f"'ip netns del {name}' removes it)"
        )
    return text


def _remove(pinned: Pinned, wait: float) -> None:
    name = pinned.path.name
    try:
        with interface_lock(name, wait, pinned.ifname):
            Bpftool.unpin_tree(pinned.path)
            lock_path(name).unlink(missing_ok=True)
    except LockedError as exc:
        raise BalancerError(str(exc)) from None
    except BpfError as exc:
        raise BalancerError(str(exc)) from None


def _detach_missing(ifname: str, netlink: Netlink, wait: float) -> str:
    """`ifname` names no link here: its pins, if its link was deleted."""
    netns = current_netns(netlink)
    mine = [
        p
        for p in pinning.in_namespace(netns.cookie)
        if p.record is not None and p.record.answers_to(ifname) and p.ident is not None
    ]
    for pinned in mine:
        assert pinned.ident is not None
        now = netlink.name_of(pinned.ident.ifindex)
        if now is not None and pinned.holds_link is not False:
            how = f"; run '{netns.command(f'l4lb detach -i {shlex.quote(now)}')}'"
            raise BalancerError(
                f"interface {ifname} does not exist in {netns.place}: "
                f"{renamed(ifname, now)}{how if now != ifname else ''}"
            )
        # Moved to another namespace, its program running on there: its
        # pins are its maps.
        elsewhere = moved_to(pinned, "detach")
        if elsewhere is not None:
            raise BalancerError(f"interface {ifname} does not exist in {netns.place}: {elsewhere}")
    for pinned in mine:
        _remove(pinned, wait)
    if mine:
        paths = ", ".join(str(p.path) for p in mine)
        return f"{ifname} no longer exists in {netns.place}; removed its pins ({paths})"
    if pinning.has_legacy(ifname):
        return _detach_legacy(ifname, wait)
    text = missing(ifname, netns, netlink)
    if any(p.record is not None and p.record.answers_to(ifname) for p in pinning.listing()):
        text += (
            f"; pins recorded for a {ifname} of another namespace remain "
            "('l4lb detach --stale' removes them once that namespace is gone)"
        )
    raise BalancerError(text)


def _detach_legacy(
    ifname: str, wait: float, seen: ghosts.Seen | None = None, refuse: bool = True
) -> str:
    """An older l4lb's pins for `ifname`: removed if their program runs on no
    interface (in `seen`, or a survey now), else left to the namespace where
    it runs (which adopts them): refused, or (`refuse` False: after another
    change) said."""
    path = pinning.legacy_dir(ifname)
    pinned = pinning.found(path)
    if pinned is None:
        raise BalancerError(f"{path} is not a balancer's pin directory")
    where = ghosts.running(pinned.prog_id, survey() if seen is None else seen)
    if where is not None:
        netns, link = where
        text = (
            f"{path} holds the pins an earlier l4lb made for {ifname}, and their program runs "
            f"on {link.ifname} in {netns.place}: "
            f"{ghosts.rerun(netns, f'l4lb detach -i {link.ifname}')} detaches it"
        )
        if refuse:
            raise BalancerError(text)
        return f"kept {text}"
    _remove(pinned, wait)
    return f"removed the pins an earlier l4lb left for {ifname} in {path} (its program ran nowhere)"
