"""What `apply` would change to make a balancer match its config, and how
`diff` says it (pure: the caller reads the running state and the neighbour
table, and carries the changes out through the Balancer)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from l4lb_tui import flowsize, ring_fill, validation
from l4lb_tui.abi import ServiceKey
from l4lb_tui.config_model import NEIGHBOUR, BalancerSpec, ServiceSpec
from l4lb_tui.destinations import Destination
from l4lb_tui.ring_fill import DEFAULT_RING_SIZE, FillMode
from l4lb_tui.ring_print import fingerprint, ring_ips
from l4lb_tui.wording import counted


class PlanProblem(Exception):
    """The config cannot be applied as it stands (an unresolved MAC, ...)."""


@dataclass(frozen=True, slots=True)
class RunningService:
    """A service as the running balancer holds it."""

    key: ServiceKey
    dests: tuple[Destination, ...]
    fill: FillMode
    ring_size: int
    ring_print: str = ""  # the live ring's fingerprint ("": not read)


@dataclass(frozen=True, slots=True)
class Running:
    """A balancer as it runs: attached mode ("" for loaded, not attached;
    None: no balancer at all), outer source, services."""

    mode: str | None
    source: str
    services: tuple[RunningService, ...]
    flows: int | None = None  # the flow table's size (None: not loaded)
    source6: str | None = None  # ip6ip6's outer source (None: unset)
    flows6: int | None = None  # the IPv6 flow table's size (None: not loaded)


@dataclass(frozen=True, slots=True)
class ServiceChange:
    key: ServiceKey
    kind: str  # "add", "change", "remove" or "same"
    dests: tuple[Destination, ...]
    fill: FillMode
    ring_size: int
    lines: tuple[str, ...]  # what diff prints for it
    notes: tuple[str, ...] = ()  # backends left out or kept as they run
    refused: str | None = None  # why apply would refuse it (and change nothing)


@dataclass(frozen=True, slots=True)
class BalancerChange:
    spec: BalancerSpec
    attach: str | None  # what attaching changes, None: nothing
    services: tuple[ServiceChange, ...]
    refused: str | None = None  # why apply would refuse the attach (and change nothing)

    @property
    def changes(self) -> bool:
        return self.attach is not None or any(s.kind != "same" for s in self.services)

    @property
    def refusals(self) -> list[str]:
        """Why apply would refuse this balancer's changes, a line each."""
        where = self.spec.where
        own = [f"{where}: {self.refused}"] if self.refused else []
        return own + [f"{where}: service {s.key}: {s.refused}" for s in self.loads if s.refused]

    @property
    def loads(self) -> list[ServiceChange]:
        """The services apply loads (added or changed)."""
        return [s for s in self.services if s.kind in ("add", "change")]


def _wanted(
    spec: ServiceSpec,
    macs: Mapping[str, str],
    now: Mapping[str, Destination],
    keep_drains: bool,
    notes: list[str],
) -> tuple[Destination, ...]:
    out = []
    for b in spec.backends:
        running = now.get(b.ip)
        mac = macs.get(b.ip) if b.mac == NEIGHBOUR else b.mac
        asked = "neighbour discovery" if ":" in b.ip else "ARP"
        if mac is None and running is not None:
            mac = running.mac
            notes.append(f"! {b.ip}: no answer to {asked} on the interface; kept its MAC {mac}")
        if mac is None:
            # One backend that does not answer must not hold back the rest.
            notes.append(f"! {b.ip}: LEFT OUT: no MAC on the interface (no answer to {asked})")
            continue
        # The health checker's drain belongs to the health checker; an
        # operator's is kept when asked (the daemon never undoes one).
        down = bool(running and running.down)
        drained = b.drained or bool(keep_drains and running and running.drained)
        # Weight 0 is the other way an operator drains (`backend weight
        # --weight 0`): kept alike.
        weight = 0 if keep_drains and running and running.weight == 0 else b.weight
        out.append(Destination(b.ip, mac, weight, drained, down))
    return tuple(out)


_UNDRAIN_NOTE = "(by apply; a daemon reload keeps an operator's drain)"


def _backend_lines(old: Sequence[Destination], new: Sequence[Destination]) -> list[str]:
    before = {d.ip: d for d in old}
    after = {d.ip: d for d in new}
    lines = [f"+ {d.ip} {d.mac} weight {d.weight}" for d in new if d.ip not in before]
    lines += [f"- {d.ip}" for d in old if d.ip not in after]
    for d in new:
        was = before.get(d.ip)
        if was is None or was == d:
            continue
        what = []
        if was.mac != d.mac:
            what.append(f"mac {was.mac} -> {d.mac}")
        if was.weight != d.weight:
            what.append(f"weight {was.weight} -> {d.weight}")
        if was.drained != d.drained:
            what.append("drained" if d.drained else "undrained")
        # Only `apply` by hand does this: the daemon keeps such drains.
        undrain = (was.drained and not d.drained) or (was.weight == 0 and d.weight)
        lines.append(f"~ {d.ip} {', '.join(what)}" + (f" {_UNDRAIN_NOTE}" if undrain else ""))
    return lines


def _service(
    spec: ServiceSpec,
    key: ServiceKey,
    running: RunningService | None,
    macs: Mapping[str, str],
    keep_drains: bool,
) -> ServiceChange:
    now = {d.ip: d for d in running.dests} if running else {}
    notes: list[str] = []
    dests = _wanted(spec, macs, now, keep_drains, notes)
    # What the file leaves out, the running service keeps (as `map` does).
    fill = FillMode(spec.fill) if spec.fill else (running.fill if running else FillMode.MAGLEV)
    ring = spec.ring_size or (running.ring_size if running else DEFAULT_RING_SIZE)
    refused = _ring_refusal(spec, running, fill, ring, dests)
    if running is None:
        size = f"{fill.value}, {counted(ring, 'slot')}"
        added = f"+ service {key}: {counted(len(dests), 'backend')} ({size})"
        return ServiceChange(key, "add", dests, fill, ring, (added,), tuple(notes), refused)
    body = _backend_lines(running.dests, dests)
    if running.fill != fill or running.ring_size != ring:
        body.append(f"~ ring {running.fill.value} {running.ring_size} -> {fill.value} {ring}")
    # The order of the backends' slots is no difference: a hitless reload
    # keeps each in its slot, and the ring is filled in IP order whatever it
    # is.  The ring itself is: a live ring that is not what these backends
    # make is said and refilled.
    if not body and sorted(d.ip for d in running.dests) == sorted(d.ip for d in dests):
        expected = _ring_print(running)
        if not running.ring_print or running.ring_print == expected:
            return ServiceChange(key, "same", dests, fill, ring, (), tuple(notes), refused)
        body.append(f"~ ring: live {running.ring_print} is not what its backends make ({expected})")
    lines = (f"~ service {key}:", *(f"    {line}" for line in body or ["(backend order)"]))
    return ServiceChange(key, "change", dests, fill, ring, lines, tuple(notes), refused)


def _ring_print(running: RunningService) -> str:
    """The fingerprint of the ring the running backends make (ring_fill.fill)."""
    ips = [d.ip for d in running.dests]
    weights = [d.serving_weight for d in running.dests]
    ring = ring_fill.fill(running.fill, range(len(ips)), ips, weights, running.ring_size)
    return fingerprint(ring_ips(ring, dict(enumerate(ips))))


def _ring_refusal(
    spec: ServiceSpec,
    running: RunningService | None,
    fill: FillMode,
    ring: int,
    dests: Sequence[Destination],
) -> str | None:
    """Why the load would refuse this ring (the load's own rule), saying
    where a size the file does not give came from."""
    serving = sum(1 for d in dests if d.serving_weight)
    problem = validation.ring_problem(ring, fill is FillMode.MAGLEV, serving)
    if problem is None:
        return None
    problem = problem.replace("--fill roundrobin", 'fill = "roundrobin"')
    if spec.ring_size is None and running is not None:
        return (
            f"the running ring of {counted(ring, 'slot')} was kept because the file names "
            f"no ring_size; {problem}; give ring_size (a prime for maglev) to change it"
        )
    return problem


def _resized(spec: BalancerSpec, running: Running) -> list[tuple[str, str, int, int]]:
    """The flow tables `spec` asks another size of than the loaded balancer
    has: (name, option, running size, asked size)."""
    if running.mode is None:
        return []
    return [
        (name, option, was, want)
        for name, option, want, was in (
            ("flow table", "flows", spec.flows, running.flows),
            ("IPv6 flow table", "flows6", spec.flows6, running.flows6),
        )
        if want and was and want != was
    ]


def _sizing(spec: BalancerSpec, running: Running) -> str:
    """What attaching does to the flow table: made at a new load (its
    memory said before it is allocated), or, asked another size while
    loaded, a resize attach refuses (a new size is a new load)."""
    if running.mode is None:
        return (
            f"{flowsize.describe(spec.flows or flowsize.DEFAULT_FLOWS)}; "
            f"{flowsize.describe6(spec.flows6 or flowsize.DEFAULT_FLOWS6)}"
        )
    return "; ".join(
        f"{name} {flowsize.human(was)} -> {flowsize.human(want)} "
        "(refused while loaded: detach first)"
        for name, _, was, want in _resized(spec, running)
    )


def _resize_refused(spec: BalancerSpec, running: Running) -> str | None:
    """A loaded balancer keeps its flow tables: another size of either is
    refused whole."""
    resized = _resized(spec, running)
    if not resized:
        return None
    name, option, was, want = resized[0]
    where = f"--netns {shlex.quote(spec.netns)} " if spec.netns else ""
    return (
        f"{name} {flowsize.human(was)} -> {flowsize.human(want)} ({option}): a loaded "
        f"balancer keeps its table; 'l4lb {where}detach -i {shlex.quote(spec.interface)}' "
        "first (its flows are forgotten, and nothing is balanced until the apply), then apply"
    )


def plan_balancer(
    spec: BalancerSpec, running: Running, macs: Mapping[str, str], keep_drains: bool = False
) -> BalancerChange:
    """The changes that make `running` match `spec`."""
    attach = None
    if running.mode is None:
        attach = f"attach in {spec.mode} mode"
    elif running.mode != spec.mode:
        attach = (
            f"{'attach' if not running.mode else 'switch from ' + running.mode} to {spec.mode} mode"
        )
    if spec.source and spec.source != running.source:
        attach = (attach + ", " if attach else "") + (
            f"outer source {running.source} -> {spec.source}"
            if running.source
            else f"outer source {spec.source}"
        )
    if spec.source6 and spec.source6 != running.source6:
        attach = (attach + ", " if attach else "") + (
            f"outer IPv6 source {running.source6 or 'unset'} -> {spec.source6}"
        )
    sizing = _sizing(spec, running)
    if sizing:
        attach = (attach + ", " if attach else "") + sizing
    current = {s.key: s for s in running.services}
    changes: list[ServiceChange] = []
    for s in spec.services:
        changes += [_service(s, key, current.get(key), macs, keep_drains) for key in s.keys]
    wanted = {c.key for c in changes}
    for key, svc in current.items():
        if key not in wanted:
            lines = (f"- service {key} ({counted(len(svc.dests), 'backend')})",)
            changes.append(ServiceChange(key, "remove", (), svc.fill, svc.ring_size, lines))
    return BalancerChange(spec, attach, tuple(changes), _resize_refused(spec, running))


def render_diff(changes: Sequence[BalancerChange]) -> list[str]:
    """`l4lb diff`'s output: one heading per balancer, a line per change."""
    out: list[str] = []
    for c in changes:
        where = c.spec.where
        notes = [f"  {key}: {n}" for s in c.services for key in [s.key] for n in s.notes]
        if not c.changes:
            # Not "as configured" while the file names backends that are not loaded.
            left = sum(1 for s in c.services for n in s.notes if "LEFT OUT" in n)
            but = f" but for {counted(left, 'backend')} left out" if left else ""
            out += [f"{where}: as configured{but}", *notes]
            continue
        out.append(f"{where}:")
        if c.attach:
            out.append(f"  {c.attach}")
        out += [f"  {line}" for s in c.services for line in s.lines]
        out += notes
        if c.refused:
            out.append(f"  ! apply would refuse this: {c.refused}")
        out += [f"  ! apply would refuse this: {s.refused}" for s in c.loads if s.refused]
    return out
