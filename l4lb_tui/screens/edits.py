"""Backend edits as whole-list reloads, and their undo (pure logic, no I/O).

The balancer reloads a service's backend list hitlessly and keeps the slot
and counters of every backend whose (IP, MAC) is unchanged, so one add, edit
or delete is simply a load of the edited list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from l4lb_tui.balancer import State
from l4lb_tui.destinations import Destination
from l4lb_tui.layout import ServiceKey


@dataclass(frozen=True, slots=True)
class ServiceEdit:
    key: ServiceKey
    before: tuple[Destination, ...]
    after: tuple[Destination, ...]


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


def members(state: State | None, key: ServiceKey) -> tuple[Destination, ...]:
    if state is None:
        return ()
    for svc in state.services:
        if svc.key == key:
            return tuple(Destination(b.ip, b.mac, b.weight) for b in svc.backends)
    return ()


def add(state: State | None, keys: Sequence[ServiceKey], dest: Destination) -> Change:
    edits = []
    for key in keys:
        before = members(state, key)
        if any(d.ip == dest.ip for d in before):
            raise ValueError(f"{dest.ip} is already a backend of {key}")
        edits.append(ServiceEdit(key, before, (*before, dest)))
    names = ", ".join(str(k) for k in keys)
    return Change(f"add {dest.ip} to {names}", tuple(edits))


def _require(before: tuple[Destination, ...], key: ServiceKey, ip: str) -> None:
    if all(d.ip != ip for d in before):
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


def load(state: State | None, keys: Sequence[ServiceKey], dests: Sequence[Destination]) -> Change:
    edits = tuple(ServiceEdit(k, members(state, k), tuple(dests)) for k in keys)
    names = ", ".join(str(k) for k in keys)
    return Change(f"load {len(dests):,} backends into {names}", edits)
