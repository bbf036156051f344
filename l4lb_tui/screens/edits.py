"""Backend edits as whole-list reloads, and their undo (pure logic, no I/O).

The balancer reloads a service's backend list hitlessly and keeps the slot
and counters of every backend whose (IP, MAC) is unchanged, so one add, edit
or delete is simply a load of the edited list.  A drain goes through the
balancer's own set_drain; its undo is a reload like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from l4lb_tui.balancer import State
from l4lb_tui.destinations import Destination
from l4lb_tui.layout import ServiceKey

# A service's backend list; None where the service does not exist at all.
Members = tuple[Destination, ...] | None


@dataclass(frozen=True, slots=True)
class ServiceEdit:
    key: ServiceKey
    before: Members
    after: Members  # None: remove the service (the undo of creating it)


@dataclass(frozen=True, slots=True)
class Change:
    """One operator change: a list reload for each service it touches."""

    summary: str
    edits: tuple[ServiceEdit, ...]

    def inverse(self) -> Change:
        return Change(
            f"undo: {self.summary}",
            tuple(ServiceEdit(e.key, e.after, e.before) for e in self.edits),
        )


# A change is planned against the lists the kernel holds when it is applied,
# not against the last poll's copy, so a quick second edit never undoes the first.
Plan = Callable[[State | None], Change]


def lookup(state: State | None, key: ServiceKey) -> Members:
    """The service's list as it can be loaded back, or None if there is no such service.

    `drained` is the flag alone: a weight-0 backend drains by its weight, and
    keeps weight 0 (not the flag) when the list is loaded back.
    """
    if state is None:
        return None
    for svc in state.services:
        if svc.key == key:
            return tuple(
                Destination(b.ip, b.mac, b.weight, b.draining and b.weight != 0)
                for b in svc.backends
            )
    return None


def members(state: State | None, key: ServiceKey) -> tuple[Destination, ...]:
    return lookup(state, key) or ()


def add(state: State | None, keys: Sequence[ServiceKey], dest: Destination) -> Change:
    edits = []
    for key in keys:
        before = lookup(state, key)
        if any(d.ip == dest.ip for d in before or ()):
            raise ValueError(f"{dest.ip} is already a backend of {key}")
        edits.append(ServiceEdit(key, before, (*(before or ()), dest)))
    names = ", ".join(str(k) for k in keys)
    return Change(f"add {dest.ip} to {names}", tuple(edits))


def _require(before: tuple[Destination, ...], key: ServiceKey, ip: str) -> Destination:
    for d in before:
        if d.ip == ip:
            return d
    raise ValueError(f"{ip} is no longer a backend of {key} (changed meanwhile?)")


def edit(state: State | None, key: ServiceKey, old_ip: str, dest: Destination) -> Change:
    before = members(state, key)
    _require(before, key, old_ip)
    if dest.ip != old_ip and any(d.ip == dest.ip for d in before):
        raise ValueError(f"{dest.ip} is already a backend of {key}")
    after = tuple(dest if d.ip == old_ip else d for d in before)
    if after == before:
        raise ValueError("nothing changed")
    return Change(f"edit {old_ip} of {key}", (ServiceEdit(key, before, after),))


def delete(state: State | None, key: ServiceKey, ip: str) -> Change:
    before = members(state, key)
    _require(before, key, ip)
    after = tuple(d for d in before if d.ip != ip)
    return Change(f"delete {ip} from {key}", (ServiceEdit(key, before, after),))


def toggle_drain(state: State | None, key: ServiceKey, ip: str) -> Change:
    """Drain (no new flows, established ones stay) or undrain one backend.

    Which of the two follows the kernel's list at this moment, like every
    plan.  The weight is kept; undraining a weight-0 backend gives it weight
    1, as Balancer.set_drain does.
    """
    before = members(state, key)
    old = _require(before, key, ip)
    drained = old.effective_weight != 0
    new = replace(old, drained=drained, weight=old.weight if old.weight or drained else 1)
    after = tuple(new if d.ip == ip else d for d in before)
    verb = "drain" if drained else "undrain"
    return Change(f"{verb} {ip} of {key}", (ServiceEdit(key, before, after),))


def drained_to(change: Change, ip: str) -> bool:
    """Whether `change` leaves `ip` drained (what to ask set_drain for)."""
    return any(d.ip == ip and d.drained for e in change.edits for d in e.after or ())


def load(state: State | None, keys: Sequence[ServiceKey], dests: Sequence[Destination]) -> Change:
    edits = tuple(ServiceEdit(k, lookup(state, k), tuple(dests)) for k in keys)
    names = ", ".join(str(k) for k in keys)
    return Change(f"load {len(dests):,} backends into {names}", edits)
