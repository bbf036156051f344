"""The console's edits as backend_edits changes, and their undo (pure logic, no I/O).

An edit is made against what the operator was shown (`Seen`: the last
poll's lists, or what the console's own last write left).  It goes to the
balancer as changes wrapped in `Expecting`, which Balancer.edit applies
under the interface's lock: refused if another writer has changed the
backends it touches since they were shown, applied to the lists as they are
then otherwise (other writers' changes to other backends are kept).  Its
undo is made against what it left, in the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from l4lb_tui import backend_edits as E
from l4lb_tui.abi import ServiceKey
from l4lb_tui.destinations import Destination
from l4lb_tui.events import backend_words, changed_fields
from l4lb_tui.model import Backend, Service, State
from l4lb_tui.wording import counted

Members = E.Members
# What the operator was shown of each service (None: no such service).
Lists = Callable[[ServiceKey], Members | None]


def lookup(state: State | None, key: ServiceKey) -> Members | None:
    """The service's list as it can be loaded back, or None if there is no such service."""
    for svc in state.services if state else ():
        if svc.key == key:
            return listed(svc)
    return None


def listed(svc: Service) -> Members:
    """A service's list as it can be loaded back.

    `drained` is the flag alone: a weight-0 backend drains by its weight, and
    keeps weight 0 (not the flag) when the list is loaded back.
    """
    return tuple(
        Destination(b.ip, b.mac, b.weight, b.draining and b.weight != 0) for b in svc.backends
    )


def members(state: State | None, key: ServiceKey) -> Members:
    return lookup(state, key) or ()


@dataclass
class Seen:
    """What this console last showed of each service: the last poll's lists,
    or, for a service it has just written, what that write left, until the
    poll after the write lands (an edit made meanwhile is no stale one)."""

    state: State | None = None
    written: dict[ServiceKey, Members | None] = field(default_factory=dict)

    def polled(self, state: State | None) -> None:
        self.state = state
        self.written = {}

    def wrote(self, applied: Applied) -> None:
        self.written.update((key, after) for key, _, (_, after) in applied.done)

    def __call__(self, key: ServiceKey) -> Members | None:
        return self.written[key] if key in self.written else lookup(self.state, key)

    def lists(self) -> dict[ServiceKey, Members]:
        """Every service's list as of now, kept by a dialog opened now."""
        services = self.state.services if self.state else ()
        found: dict[ServiceKey, Members | None] = {s.key: listed(s) for s in services}
        found.update(self.written)  # a service its own write removed is gone
        return {key: found_list for key, found_list in found.items() if found_list is not None}


@dataclass(frozen=True, slots=True)
class Applied:
    """A change as carried out: each service's list before and after it, and
    the backends it touched (None: the whole list), for its undo."""

    summary: str
    done: tuple[
        tuple[ServiceKey, frozenset[str] | None, tuple[Members | None, Members | None]], ...
    ]

    def undo(self) -> Intent:
        changes = tuple((key, E.undo(key, touched, lists)) for key, touched, lists in self.done)
        return Intent(f"undo: {self.summary}", changes, undoes=self.summary)


UNDO_DEPTH = 20  # changes the console can undo, newest first


@dataclass(frozen=True, slots=True)
class Outcome:
    """A write as it ended: what to tell the operator and, for undo, what it did."""

    message: str
    ok: bool
    change: Applied | None = None  # None: refused, or nothing to undo
    undo: bool = False  # it was an undo (of the newest change on the stack)
    stale: bool = False  # refused: another writer changed what it was made against

    def undo_stack(self, stack: Sequence[Applied]) -> list[Applied]:
        """The undo stack after this write."""
        if self.ok and self.change is not None:
            return list(stack[:-1]) if self.undo else [*stack, self.change][-UNDO_DEPTH:]
        if self.undo and self.stale:
            return list(stack[:-1])  # it can never apply: what it would put back moved on
        return list(stack)


@dataclass(frozen=True, slots=True)
class Intent:
    """One operator change, as the balancer will be asked to make it."""

    summary: str
    changes: tuple[tuple[ServiceKey, E.Expecting], ...]
    note: str = ""  # what it means for traffic, said when it is done
    undoes: str = ""  # the summary of the change this one undoes
    backend: str = ""  # the one backend it changes: the event log says old → new

    def logged(self, done: E.Done, message: str) -> str:
        """The event log's line: the summary with what the backend was and
        is now, else `message`."""
        if not self.backend:
            return message
        words = dict.fromkeys(backend_words(self.backend, *done[key]) for key, _ in self.changes)
        return f"{self.summary}: {'; '.join(words)}"

    def refusal(self, changed: E.SetChanged) -> str:
        if self.undoes:
            return (
                f"cannot undo {self.undoes}: {changed.what} changed since (another writer); "
                "nothing was changed, the view is refreshed"
            )
        return f"{self.summary} refused: {changed}: refreshed, check and apply again"

    def applied(self, done: E.Done) -> tuple[str, Applied]:
        """What to tell the operator, and the record for undo."""
        words = [self.summary]
        if self.note:
            words.append(self.note)
        for key, change in self.changes:
            if E.looks(done[key][0]) != E.looks(change.seen):
                words.append(
                    f"{key} had changed since it was shown (another writer): this change "
                    "went to its backends as they were, the other changes were kept"
                )
        record = tuple((key, change.touches, done[key]) for key, change in self.changes)
        return " — ".join(words), Applied(self.summary, record)


def _names(keys: Sequence[ServiceKey]) -> str:
    return ", ".join(str(k) for k in keys)


def _catch_all(keys: Sequence[ServiceKey]) -> str:
    if any(k.is_catch_all for k in keys):
        return "catch-all: ALL TCP/UDP traffic on this interface is balanced"
    return ""


def add(seen: Lists, keys: Sequence[ServiceKey], dest: Destination) -> Intent:
    changes = tuple((key, E.Expecting(seen(key), E.Add(dest, create=True))) for key in keys)
    summary = f"add {dest.ip} to {_names(keys)}"
    return Intent(summary, changes, _catch_all(keys), backend=dest.ip)


def edit(seen: Lists, key: ServiceKey, old_ip: str, dest: Destination) -> Intent:
    before = seen(key)
    change = E.Expecting(before, E.Replace(old_ip, dest))
    was = next((d for d in before or () if d.ip == old_ip), None)
    changed = (
        ", ".join(f"{name} {a} → {b}" for name, a, b in changed_fields(was, dest)) if was else ""
    )
    return Intent(f"edit {old_ip} of {key}" + (f": {changed}" if changed else ""), ((key, change),))


def delete(seen: Lists, key: ServiceKey, ip: str) -> Intent:
    change = E.Expecting(seen(key), E.Remove(ip))
    return Intent(f"delete {ip} from {key}", ((key, change),), backend=ip)


def drain(seen: Lists, key: ServiceKey, shown: Backend) -> Intent:
    """Drain the backend as shown, or undrain it if it is shown draining
    (weight 0 included: undraining gives it a weight)."""
    drained = not shown.draining
    change = E.Expecting(seen(key), E.SetDrain(shown.ip, drained))
    if drained:
        verb, note = "drain", "no new flows; its established flows stay (x undrains)"
    else:
        verb, note = "undrain", "it takes new flows again"
    if shown.down:
        # The health checker's drain is apart from the operator's: undraining
        # does not put a failing backend back in rotation, and must not say so.
        health = "it is down (health check)"
        note = (
            f"{health} too: it gets new flows once undrained (x) and passing again"
            if drained
            else f"{health}: it gets new flows once it passes again"
        )
    return Intent(f"{verb} {shown.ip} of {key}", ((key, change),), note, backend=shown.ip)


def load(seen: Lists, keys: Sequence[ServiceKey], dests: Sequence[Destination]) -> Intent:
    changes = tuple((key, E.Expecting(seen(key), E.Load(tuple(dests)))) for key in keys)
    return Intent(
        f"load {counted(len(dests), 'backend', grouped=True)} into {_names(keys)}",
        changes,
        _catch_all(keys),
    )


@dataclass(frozen=True, slots=True)
class Moved:
    """What another writer did to the backend a form is editing."""

    now: Destination | None  # None: it is no longer a backend of the service
    fields: tuple[tuple[str, str, str], ...]  # (field, was, is now) of those that changed

    def note(self, ip: str, key: ServiceKey) -> str:
        if self.now is None:
            return f"another writer removed {ip} from {key}: Apply will be refused (Esc)"
        changed = ", ".join(f"{name} {was} → {now}" for name, was, now in self.fields)
        return (
            f"another writer changed {ip} while this was open: {changed}; "
            "fields you had not changed show it now"
        )


def moved(ip: str, was: Members, now: Members) -> Moved | None:
    """How backend `ip` changed between two lists of its service, or None if it did not."""
    before = next((d for d in was if d.ip == ip), None)
    after = next((d for d in now if d.ip == ip), None)
    if before is None or E.looks((before,)) == E.looks((after,) if after else ()):
        return None
    if after is None:
        return Moved(None, ())
    return Moved(after, changed_fields(before, after))


def frozen(lists: Mapping[ServiceKey, Members]) -> Lists:
    """Lists kept by a dialog when it opened: what its edit is made against."""
    return lambda key: lists.get(key)
