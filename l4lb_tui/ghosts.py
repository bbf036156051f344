"""Which pins belong to no running balancer: judged from what bpffs holds and
what every reachable network namespace holds.  Pure logic.

A balancer's pins are stale when its namespace is gone, or its interface is
gone from that namespace: the kernel took the program off with the link,
and nothing can name it any more.  An older l4lb's pins (one directory per
interface name, no namespace recorded) are stale when their program runs on
no interface and no namespace has an interface of that name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from l4lb_tui.identity import BalancerId, Netns, Pinned


@dataclass(frozen=True, slots=True)
class SeenLink:
    ifindex: int
    ifname: str
    prog_id: int  # its XDP program (0: none)


Seen = Sequence[tuple[Netns, Sequence[SeenLink]]]


@dataclass(frozen=True, slots=True)
class Verdict:
    pinned: Pinned
    stale: bool
    why: str


def running(prog_id: int | None, seen: Seen) -> tuple[Netns, SeenLink] | None:
    """Where a program is attached, if anywhere."""
    if not prog_id:
        return None
    for netns, links in seen:
        for link in links:
            if link.prog_id == prog_id:
                return netns, link
    return None


def rerun(netns: Netns, command: str) -> str:
    """How an operator runs `command` (an `l4lb ...` line) in `netns`."""
    if netns.name:
        return f"'{netns.command(command)}'"
    if netns.host:
        return f"'{command}' in the host's network namespace"
    if netns.pid:
        return (
            f"'nsenter --net=/proc/{netns.pid}/ns/net {command}' (the namespace of PID {netns.pid})"
        )
    return f"'{command}' inside that namespace (nsenter --net=/proc/PID/ns/net)"


def moved(ifname: str, netns: Netns, link: SeenLink, command: str = "...") -> str:
    """Where the interface `ifname` went with its balancer, and how to run
    `l4lb COMMAND -i ...` there."""
    named = "" if link.ifname == ifname else f" (named {link.ifname} there)"
    return (
        f"it was moved to {netns.place}{named}, where its balancer runs on: "
        f"use {rerun(netns, f'l4lb {command} -i {link.ifname}')}"
    )


def _who(pinned: Pinned, ident: BalancerId) -> str:
    if pinned.record is None:
        return f"interface index {ident.ifindex} of {Netns(ident.netns_cookie).place}"
    return f"{pinned.record.ifname} in {pinned.record.netns_seen.place}"


def _identity_verdict(pinned: Pinned, ident: BalancerId, seen: Seen) -> Verdict:
    where = running(pinned.prog_id, seen)
    if where is not None:
        netns, link = where
        return Verdict(pinned, False, f"runs on {link.ifname} in {netns.place}")
    for netns, links in seen:
        if netns.cookie != ident.netns_cookie:
            continue
        for link in links:
            if link.ifindex != ident.ifindex:
                continue
            if pinned.holds_link is False:
                # The kernel let go of the link the pins were made for:
                # this one was given its index later.
                return Verdict(
                    pinned,
                    True,
                    f"{_who(pinned, ident)}: the interface is gone "
                    f"(its index is {link.ifname}'s now, a later link)",
                )
            return Verdict(pinned, False, f"{link.ifname} in {netns.place}, not attached")
        return Verdict(pinned, True, f"{_who(pinned, ident)}: the interface is gone")
    return Verdict(pinned, True, f"{_who(pinned, ident)}: the namespace is gone")


def _legacy_verdict(pinned: Pinned, seen: Seen) -> Verdict:
    name = pinned.ifname
    what = f"an earlier l4lb's pins for {name}"
    where = running(pinned.prog_id, seen)
    if where is not None:
        netns, link = where
        return Verdict(
            pinned,
            False,
            f"{what}, running on {link.ifname} in {netns.place}: "
            f"{rerun(netns, f'l4lb stats -i {link.ifname} --once')} adopts them",
        )
    namesakes = [netns for netns, links in seen if any(li.ifname == name for li in links)]
    if namesakes:
        places = ", ".join(n.place for n in namesakes)
        return Verdict(
            pinned,
            False,
            f"{what}, whose program runs on no interface; {name} exists in {places}: "
            f"{rerun(namesakes[0], f'l4lb detach -i {name}')} removes them",
        )
    return Verdict(
        pinned, True, f"{what}: its program runs on no interface, and no namespace has a {name}"
    )


def judge(pinned: Pinned, seen: Seen) -> Verdict:
    if pinned.ident is None:
        return _legacy_verdict(pinned, seen)
    return _identity_verdict(pinned, pinned.ident, seen)
