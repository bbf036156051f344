"""The rtnetlink session: the one place pyroute2's IPRoute is opened."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from l4lb_tui.netlink.errors import NetlinkError
from l4lb_tui.netlink.namespaces import in_thread

_T = TypeVar("_T")


@contextlib.contextmanager
def session(netns: str | None = None) -> Iterator[Any]:
    """An rtnetlink socket in the named network namespace (None: the calling
    thread's), closed after the block.

    flags=0: pyroute2 would otherwise create a namespace that is missing,
    and a lookup, a status or a teardown must never bring one into being.
    pyroute2 takes 0.1-0.2 s to import: only when a session is opened.
    """
    from pyroute2 import IPRoute

    try:
        ipr = IPRoute(netns=netns, flags=0) if netns else IPRoute()
    except FileNotFoundError:
        raise NetlinkError(f"network namespace {netns} does not exist") from None
    try:
        yield ipr
    finally:
        ipr.close()


def index(ipr: Any, ifname: str) -> int | None:
    """The index of the link called `ifname` in the session's namespace."""
    found = ipr.link_lookup(ifname=ifname)
    return int(found[0]) if found else None


def off_loop(fn: Callable[[], _T]) -> _T:
    """fn(), in a helper thread if this one runs an asyncio loop: pyroute2
    refuses to work there, and a Balancer resolves its interface by these
    lookups, wherever it is made (a helper thread starts in the namespace
    of the thread that makes it)."""
    # No loop can run before asyncio is imported (the CLI never imports it).
    aio = sys.modules.get("asyncio")
    if aio is None or aio._get_running_loop() is None:
        return fn()
    return in_thread(fn, "l4lb-netlink")
