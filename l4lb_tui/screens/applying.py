"""Carrying out a planned change through the façade, in the write worker."""

from __future__ import annotations

from collections.abc import Callable

from l4lb_tui.console import ConsoleBackend, ConsoleError
from l4lb_tui.screens.edits import Change, Plan, ServiceEdit

# How a change reaches the balancer when it is not a reload of each list
# (a drain goes through set_drain); it returns the façade's messages.
Via = Callable[[Change], list[str]]


def reload(backend: ConsoleBackend, ifname: str, edit: ServiceEdit) -> str:
    """One service's list loaded, or the service removed (undoing its creation)."""
    if edit.after is None:
        return backend.remove_service(ifname, edit.key)
    return backend.load(ifname, [edit.key], list(edit.after))


def carry_out(
    backend: ConsoleBackend, ifname: str, plan: Plan, via: Via | None = None
) -> tuple[str, Change]:
    """Plan against the kernel's lists of this moment, then apply; the message and change."""
    try:
        change = plan(backend.state(ifname))
    except ValueError as exc:
        raise ConsoleError(str(exc)) from None
    try:
        done = via(change) if via else [reload(backend, ifname, e) for e in change.edits]
    except ConsoleError as exc:
        raise ConsoleError(f"{change.summary}: {exc}") from None
    # The façade's own words only when they add something (the catch-all
    # warning, what a drain means).
    extra = [d.split(" — ", 1)[1] for d in done if " — " in d]
    return " — ".join([change.summary, *extra[:1]]), change
