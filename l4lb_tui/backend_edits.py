"""The rules of changing a service's backends, in one place (pure logic, no I/O).

Every writer applies these: Balancer.edit to the lists it reads under the
interface's lock (for the CLI's `backend` and `service del` commands, and for
the console through RealBackend), and the console's FakeBackend to its frozen
lists.  So the CLI, the console and the tests' fake refuse the same edits in
the same words, and an undrain means one thing everywhere.

A change is a callable: the service's key and its list as it is now (None:
no such service) in, the list to load out (None: remove the service).  It
raises EditError when a rule refuses it, or SetChanged when it was made
against a list that another writer has changed since (see `Expecting`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from l4lb_tui.abi import ServiceKey
from l4lb_tui.destinations import MAX_WEIGHT, Destination

# A service's backend list as it is loaded; None where there is no service.
Members = tuple[Destination, ...]
# Each changed service's list before and after the change.
Done = dict[ServiceKey, tuple[Members | None, Members | None]]
# A list as an operator sees it (see `looks`).
Looks = frozenset[tuple[str, str, int, bool]] | None


class EditError(ValueError):
    """An edit a rule refuses; the message says which and why."""


class SetChanged(Exception):
    """The backends an edit was made against are no longer as they were
    (another writer changed them): nothing was written."""

    def __init__(self, key: ServiceKey, ips: frozenset[str] | None) -> None:
        self.key = key
        self.ips = ips
        super().__init__(f"{self.what} changed since you opened this (another writer)")

    @property
    def what(self) -> str:
        if self.ips is None:
            return f"the backends of {self.key}"
        return f"{', '.join(sorted(self.ips))} of {self.key}"


class Change(Protocol):
    # The backends the change reads and writes (None: the whole list): what
    # another writer must not have changed under it.
    @property
    def touches(self) -> frozenset[str] | None: ...

    def __call__(self, key: ServiceKey, now: Members | None) -> Members | None: ...


def looks(members: Sequence[Destination] | None, ips: frozenset[str] | None = None) -> Looks:
    """A list as an operator sees it, cut to the backends `ips` names.

    Weight 0 shows as draining whatever the drain flag says (the two behave
    alike, and the dashboard cannot tell them apart), and order does not
    count: two views that look alike here are the same to an operator.
    """
    if members is None:
        return None
    return frozenset(
        (d.ip, d.mac, d.weight, d.drained or not d.weight)
        for d in members
        if ips is None or d.ip in ips
    )


def apply_all(
    changes: Mapping[ServiceKey, Change], now: Callable[[ServiceKey], Members | None]
) -> Done:
    """Every change run against its service's list as `now` gives it, all of
    them before anything is written: one refusal and nothing changes."""
    done: Done = {}
    for key, change in changes.items():
        before = now(key)
        done[key] = (before, change(key, before))
    return done


# -- the rules -------------------------------------------------------------------


def _existing(key: ServiceKey, now: Members | None) -> Members:
    if now is None:
        raise EditError(f"no service {key}")
    return now


def _member(key: ServiceKey, now: Members | None, ip: str) -> Destination:
    for d in _existing(key, now):
        if d.ip == ip:
            return d
    raise EditError(f"{ip} is not a backend of {key}")


def _absent(key: ServiceKey, now: Members | None, ip: str) -> None:
    if any(d.ip == ip for d in now or ()):
        raise EditError(f"{ip} is already a backend of {key}")


def _weight(weight: int) -> int:
    if not 0 <= weight <= MAX_WEIGHT:
        raise EditError(f"weight {weight} is out of range 0-{MAX_WEIGHT}")
    return weight


def _swap(now: Members, old: Destination, new: Destination) -> Members:
    return tuple(new if d is old else d for d in now)


@dataclass(frozen=True, slots=True)
class Add:
    """A new backend; `create` makes the service if there is none (the
    console's add names services freely, the CLI's only existing ones)."""

    dest: Destination
    create: bool = False

    @property
    def touches(self) -> frozenset[str]:
        return frozenset({self.dest.ip})

    def __call__(self, key: ServiceKey, now: Members | None) -> Members:
        if now is None and not self.create:
            raise EditError(f"no service {key}")
        _absent(key, now, self.dest.ip)
        _weight(self.dest.weight)
        return (*(now or ()), self.dest)


@dataclass(frozen=True, slots=True)
class Remove:
    ip: str

    @property
    def touches(self) -> frozenset[str]:
        return frozenset({self.ip})

    def __call__(self, key: ServiceKey, now: Members | None) -> Members:
        gone = _member(key, now, self.ip)
        return tuple(d for d in _existing(key, now) if d is not gone)


@dataclass(frozen=True, slots=True)
class SetWeight:
    """A new weight; a drained backend stays drained (weight 0 drains too)."""

    ip: str
    weight: int

    @property
    def touches(self) -> frozenset[str]:
        return frozenset({self.ip})

    def __call__(self, key: ServiceKey, now: Members | None) -> Members:
        old = _member(key, now, self.ip)
        return _swap(_existing(key, now), old, replace(old, weight=_weight(self.weight)))


@dataclass(frozen=True, slots=True)
class SetDrain:
    """Drain (no new flows; established ones stay) or undrain, keeping the
    weight for when it comes back."""

    ip: str
    drained: bool

    @property
    def touches(self) -> frozenset[str]:
        return frozenset({self.ip})

    def __call__(self, key: ServiceKey, now: Members | None) -> Members:
        old = _member(key, now, self.ip)
        if not self.drained and old.down and not old.drained and old.weight:
            # Not an operator's drain to undo: the health checker's, which
            # clears it itself when the check passes again.
            raise EditError(
                f"{self.ip} of {key} is not drained: the health checker holds it down "
                "(its check fails) and brings it back when the check passes"
            )
        # A weight-0 backend drains by its weight: undraining it must give it
        # a weight, or it would still take no new flows.
        weight = old.weight if old.weight or self.drained else 1
        return _swap(_existing(key, now), old, replace(old, drained=self.drained, weight=weight))


@dataclass(frozen=True, slots=True)
class SetHealth:
    """The health checker's drains: exactly the backends in `down` are its
    (an operator's drain is another bit, untouched).  Backends that left the
    service meanwhile are no one's business here."""

    down: frozenset[str]

    @property
    def touches(self) -> frozenset[str]:
        return self.down

    def __call__(self, key: ServiceKey, now: Members | None) -> Members:
        current = _existing(key, now)
        return tuple(
            d if d.down == (d.ip in self.down) else replace(d, down=d.ip in self.down)
            for d in current
        )


@dataclass(frozen=True, slots=True)
class Replace:
    """One backend's IP, MAC and weight as a form gives them (the console's edit)."""

    ip: str
    dest: Destination

    @property
    def touches(self) -> frozenset[str]:
        return frozenset({self.ip, self.dest.ip})

    def __call__(self, key: ServiceKey, now: Members | None) -> Members:
        old = _member(key, now, self.ip)
        if self.dest.ip != self.ip:
            _absent(key, now, self.dest.ip)
        _weight(self.dest.weight)
        if self.dest == old:
            raise EditError("nothing changed")
        return _swap(_existing(key, now), old, self.dest)


@dataclass(frozen=True, slots=True)
class Load:
    """A whole new list (a destinations file), the service made if need be."""

    dests: Members

    @property
    def touches(self) -> None:
        return None

    def __call__(self, key: ServiceKey, now: Members | None) -> Members:
        for d in self.dests:
            _weight(d.weight)
        return self.dests


@dataclass(frozen=True, slots=True)
class DropService:
    @property
    def touches(self) -> None:
        return None

    def __call__(self, key: ServiceKey, now: Members | None) -> None:
        _existing(key, now)
        return None


@dataclass(frozen=True, slots=True)
class Restore:
    """Undo: the backends a change touched put back as they were before it,
    the others left as they are now (None: the whole list, or no service)."""

    before: Members | None
    touches: frozenset[str] | None

    def __call__(self, key: ServiceKey, now: Members | None) -> Members | None:
        if self.touches is None or now is None:
            return self.before
        back = {d.ip: d for d in self.before or () if d.ip in self.touches}
        kept: list[Destination] = []
        for d in now:
            if d.ip not in self.touches:
                kept.append(d)
            elif d.ip in back:
                kept.append(back.pop(d.ip))  # in its place
        return (*kept, *back.values())


@dataclass(frozen=True, slots=True)
class Expecting:
    """`change`, made against `seen` (the list an operator was shown): refused
    with SetChanged if the backends it touches no longer look as they did
    there, applied to the list as it is now otherwise."""

    seen: Members | None
    change: Change

    @property
    def touches(self) -> frozenset[str] | None:
        return self.change.touches

    def __call__(self, key: ServiceKey, now: Members | None) -> Members | None:
        ips = self.change.touches
        if looks(now, ips) != looks(self.seen, ips):
            raise SetChanged(key, ips)
        return self.change(key, now)


def undo(
    key: ServiceKey, touches: frozenset[str] | None, done: tuple[Members | None, Members | None]
) -> Expecting:
    """The change that undoes one whose result was `done`, refused if another
    writer has changed what it touched since."""
    before, after = done
    return Expecting(after, Restore(before, touches))
