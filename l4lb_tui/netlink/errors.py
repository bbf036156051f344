"""The netlink family's one error, and pyroute2's refusals turned into it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


class NetlinkError(Exception):
    """A netlink request or a network-namespace step failed; the message is
    the kernel's (or the system's) own words."""


def pyroute_error() -> type[Exception]:
    """pyroute2's NetlinkError, for except clauses: evaluated only once an
    exception is on its way, so pyroute2 is imported only when needed."""
    from pyroute2.netlink.exceptions import NetlinkError as PyrouteNetlinkError

    error: type[Exception] = PyrouteNetlinkError
    return error


def kernel_words(exc: Exception) -> str:
    """What the kernel said to a refused request: its extended ack when it
    gave one, else the errno's text."""
    args = exc.args
    if len(args) > 1 and args[1]:
        return str(args[1])
    return os.strerror(args[0]) if args and isinstance(args[0], int) else str(exc)


@contextlib.contextmanager
def refused(what: str) -> Iterator[None]:
    """A request refused inside the block raises NetlinkError naming `what`."""
    try:
        yield
    except pyroute_error() as exc:
        raise NetlinkError(f"{what}: {kernel_words(exc)}") from None
