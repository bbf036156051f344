"""Making running balancers match a config, and reading them back as one
(control plane: `l4lb apply`, `diff`, `export`, and the daemon).

Each service is changed with one hitless reload of its own (Balancer.load),
so each is whole at every moment; the services of one balancer change one
after another.  The health checker's drains stay as they are; an operator's
stay when the daemon applies (`keep_drains`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from l4lb_tui import config_apply_nodes, flowsize, pinning
from l4lb_tui.abi import CATCH_ALL, ServiceKey
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.bpftool import BpfError
from l4lb_tui.config_model import NEIGHBOUR, BalancerSpec, Config
from l4lb_tui.config_plan import (
    BalancerChange,
    PlanProblem,
    Running,
    RunningService,
    plan_balancer,
    render_diff,
)
from l4lb_tui.config_render import toml_str
from l4lb_tui.destinations import Destination
from l4lb_tui.identity import Pinned
from l4lb_tui.locate import require_pin_root
from l4lb_tui.netlink import Netlink, NetlinkError, neighbours
from l4lb_tui.ring_fill import FillMode
from l4lb_tui.wording import counted


def balancer_of(spec: BalancerSpec, wait: float = 0.0) -> Balancer:
    """`spec`'s balancer; its changes wait up to `wait` s for its lock."""
    return Balancer(spec.interface, netns=spec.netns, wait=wait)


def running(bal: Balancer) -> Running:
    """The balancer as it runs, in the config's terms."""
    if not bal.is_loaded():
        return Running(None, "", ())
    state = bal.state()
    prints = state.fingerprints
    services = tuple(
        RunningService(
            svc.key,
            tuple(bal.members(svc.key)),
            FillMode.MAGLEV if svc.value.maglev else FillMode.ROUND_ROBIN,
            svc.value.ring_size,
            prints.get(svc.key, ""),
        )
        for svc in state.services
    )
    return Running(
        state.mode,
        state.config.saddr,
        services,
        bal.flow_slots(),
        bal.source6(),
        bal.flow_slots("flows6"),
    )


def neighbour_macs(spec: BalancerSpec, ask: bool = True) -> dict[str, str]:
    """MACs of the backends the config leaves to the neighbour table of the
    balancer's interface, asked of the network where the table lacks them
    (unless not to `ask`: a reader that only looks)."""
    wanted = {b.ip for s in spec.services for b in s.backends if b.mac == NEIGHBOUR}
    if not wanted:
        return {}
    if not ask:
        return neighbours.macs_on(spec.netns, spec.interface, wanted)
    source, source6 = _asking_sources(spec)
    return neighbours.resolve(spec.netns, spec.interface, wanted, source, source6=source6)


def _asking_sources(spec: BalancerSpec) -> tuple[str, str]:
    """The addresses (IPv4, IPv6) to ask for backends' MACs from: never a
    VIP (backends hold the VIPs and ignore a request from one): the probe
    source, else another address of the interface ("": the kernel's choice)."""
    vips = {k.vip for s in spec.services for k in s.keys}
    try:
        link = Netlink(spec.netns).link(spec.interface)
    except NetlinkError:
        return spec.probe_source or "", spec.probe_source6 or ""
    return (
        spec.probe_source or neighbours.asking_source(link.ipv4, vips),
        spec.probe_source6 or neighbours.asking_source(link.ipv6, vips),
    )


def plan(config: Config, keep_drains: bool = False) -> list[BalancerChange]:
    """What applying `config` would change; reads, changes nothing."""
    changes = []
    for spec in config.balancers:
        bal = balancer_of(spec)
        try:
            changes.append(plan_balancer(spec, running(bal), neighbour_macs(spec), keep_drains))
        except PlanProblem as exc:
            raise BalancerError(f"{spec.interface}: {exc}") from None
    return changes


def diff(config: Config) -> tuple[list[str], list[str]]:
    """What apply would change, as diff prints it; and why apply would
    refuse it, a line each (the same checks apply makes first)."""
    if config.nodes:
        return config_apply_nodes.diff_nodes(config, diff)
    changes = plan(config)
    return render_diff(changes), refusals(changes)


def refusals(changes: Sequence[BalancerChange]) -> list[str]:
    """Why apply would refuse these changes, a line each: the plan's own
    rules, then each load planned on the running maps without a write (the
    load's every rule: free backend slots, the balancer's own addresses).
    A balancer not loaded yet has only the plan's."""
    found = [line for change in changes for line in change.refusals]
    if found:
        return found
    for change in changes:
        bal = balancer_of(change.spec)
        if not change.loads or not bal.is_loaded():
            continue
        where = change.spec.where
        for s in change.loads:
            try:
                bal.load([s.key], s.dests, s.fill, s.ring_size, write=False)
            except (BalancerError, BpfError) as exc:
                found.append(f"{where}: service {s.key}: {exc}")
    return found


Report = Callable[[str], None]


def apply(
    config: Config,
    keep_drains: bool = False,
    warn: Report | None = None,
    done: Report | None = None,
    wait: float = 0.0,
) -> list[str]:
    """Make every configured balancer match; what was done, a line each,
    each also given to `done` the moment it is done (so a failure part-way
    leaves the operator knowing what changed).  Every plan is made (and may
    refuse) before anything changes; a change that fails raises
    BalancerError naming what was and was not changed.  With [[node]]s:
    each node in turn (config_apply_nodes).  Each change waits up to
    `wait` seconds for a writer's lock (as the CLI's --wait)."""

    def one(node: Config, keep: bool, warn: Report | None, done: Report | None) -> list[str]:
        return _apply_one(node, keep, warn, done, wait)

    if config.nodes:
        return config_apply_nodes.apply_nodes(config, one, keep_drains, warn, done)
    return one(config, keep_drains, warn, done)


def _apply_one(
    config: Config, keep_drains: bool, warn: Report | None, done: Report | None, wait: float
) -> list[str]:
    changes = plan(config, keep_drains)
    refused = refusals(changes)
    if refused:
        more = f" (and {len(refused) - 1} more: see 'l4lb diff')" if len(refused) > 1 else ""
        raise BalancerError(f"{refused[0]}{more}; nothing was changed")
    for change in changes:
        for note in notes_of(change):
            if warn is not None:
                warn(note)
    steps = [step for change in changes for step in _steps(change, warn, wait)]
    made: list[str] = []
    for i, (lines, run) in enumerate(steps):
        try:
            run()
        except (BalancerError, BpfError, NetlinkError) as exc:
            raise BalancerError(_part_way(exc, made, steps[i:])) from None
        for line in lines:
            made.append(line)
            if done is not None:
                done(line)
    if warn is not None:
        for change in changes:
            _warn_small_mtu(change, warn)
    return made or ["nothing to change: the balancers are as configured"]


def _warn_small_mtu(change: BalancerChange, warn: Report) -> None:
    """A link under 1320 bytes carrying IPv6 services, said as attach says it."""
    keys = [k for s in change.spec.services for k in s.keys if ":" in k.vip]
    if not keys:
        return
    try:
        small = balancer_of(change.spec).mtu6_warning(keys)
    except (BalancerError, BpfError, NetlinkError):
        return  # the change itself said what is wrong
    if small is not None:
        warn(f"{change.spec.where}: {small}")


def notes_of(change: BalancerChange) -> list[str]:
    """The backends a plan leaves out or keeps as they run, a line each."""
    where = change.spec.where
    return [f"{where}: {s.key}: {note}" for s in change.services for note in s.notes]


Step = tuple[list[str], Callable[[], object]]


def _steps(change: BalancerChange, warn: Report | None, wait: float) -> list[Step]:
    """The changes of one balancer, in order: what each says, and the call."""
    spec = change.spec
    bal = balancer_of(spec, wait)
    where = spec.where
    steps: list[Step] = []
    if change.attach is not None:
        steps.append(
            (
                [f"{where}: {change.attach}"],
                lambda: bal.attach(
                    spec.mode,
                    spec.source,
                    warn=warn,
                    flows=spec.flows,
                    saddr6=spec.source6,
                    flows6=spec.flows6,
                ),
            )
        )
    for s in change.services:
        # "~ service KEY:" and its detail, as diff shows them, on one line
        head, *body = [line.strip() for line in s.lines] or [""]
        lines = [f"{where}: {head}" + (f" {'; '.join(body)}" if body else "")]
        if s.kind in ("add", "change"):
            steps.append((lines, partial(bal.load, [s.key], s.dests, s.fill, s.ring_size)))
        elif s.kind == "remove":
            steps.append((lines, partial(bal.remove_service, s.key)))
    return steps


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


def _part_way(exc: Exception, made: list[str], left: list[Step]) -> str:
    failed = "; ".join(left[0][0])
    rest = len(left) - 1
    before = "nothing was changed before it"
    if made:
        before = f"the {counted(len(made), 'change')} before it {_were(len(made))} made"
    after = f", the {rest} after it {_were(rest)} not" if rest else ""
    return f"{exc} (while: {failed}); {before}{after}"


# -- export ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exported:
    interface: str
    netns: str | None
    running: Running


def _comment(text: str) -> str:
    """`text` safe on one comment line (a name may hold a newline)."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _vip(key: ServiceKey) -> str:
    if key == CATCH_ALL:
        return "*"
    port = "*" if key.port == 0 else str(key.port)
    # Brackets, or "fd00::4:8080" reads back as another address with no port.
    vip = f"[{key.vip}]" if ":" in key.vip else key.vip
    return f"{vip}:{port}/{'tcp' if key.proto == 6 else 'udp'}"


def _backend(d: Destination) -> str:
    fields = [f"ip = {toml_str(d.ip)}", f"mac = {toml_str(d.mac)}", f"weight = {d.weight}"]
    if d.drained:
        fields.append("drained = true")
    note = "  # down: drained by the health checker" if d.down else ""
    return "  { " + ", ".join(fields) + " }," + note


def render_export(
    balancers: Sequence[Exported], now: datetime | None = None, skipped: Sequence[str] = ()
) -> str:
    """The running state as a config that `apply` reproduces exactly (and,
    as comments, the pins that could not be read as a balancer)."""
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# l4lb export of the running balancers, {when}"]
    out += [f"# skipped {_comment(line)}" for line in skipped]
    out.append("")
    for b in balancers:
        out += ["[[balancer]]", f"interface = {toml_str(b.interface)}"]
        if b.netns:
            out.append(f"netns = {toml_str(b.netns)}")
        out += [
            f"mode = {toml_str(b.running.mode or 'driver')}",
            f"source = {toml_str(b.running.source)}",
        ]
        if b.running.source6:
            out.append(f"source6 = {toml_str(b.running.source6)}")
        if b.running.flows:
            out.append(f'flows = "{flowsize.human(b.running.flows)}"')
        if b.running.flows6:
            out.append(f'flows6 = "{flowsize.human(b.running.flows6)}"')
        out.append("")
        for s in b.running.services:
            out += [
                "[[balancer.service]]",
                f'vip = "{_vip(s.key)}"',
                f'fill = "{s.fill.value}"',
                f"ring_size = {s.ring_size}",
                "backends = [",
                *(_backend(d) for d in s.dests),
                "]",
                "",
            ]
    return "\n".join(out)


def export_running(now: datetime | None = None) -> tuple[str, int, list[str]]:
    """`l4lb export`'s text for every balancer pinned here, how many it
    holds (the console's "save as config" writes the same text), and the
    live balancers it could not export (each said as a comment too)."""
    require_pin_root()
    exported = []
    skipped = []
    unread = []
    for pinned in pinning.listing():
        record = pinned.record
        if record is None:
            skipped.append(f"{pinned.path}: an older l4lb's pins (see 'l4lb detach --stale')")
            continue
        netns = record.netns or None
        try:
            bal = _by_identity(pinned, netns)
            if bal is None:
                skipped.append(
                    f"{pinned.path}: pins of {record.ifname} in {record.netns_seen.place}, "
                    "whose link is gone ('l4lb detach --stale' removes them)"
                )
                continue
            exported.append(Exported(bal.ifname, netns, running(bal)))
        except (BalancerError, BpfError, NetlinkError) as exc:
            skipped.append(f"{record.ifname}: {exc}")
            unread.append(skipped[-1])
    return render_export(exported, now, skipped), len(exported), unread


def _by_identity(pinned: Pinned, netns: str | None) -> Balancer | None:
    """The balancer these pins are, found by its identity (the link's index
    in its namespace) under the link's name now, which a rename since the
    pins were last written changes; None when the link is gone."""
    if pinned.ident is None:  # an older l4lb's: by the name it recorded
        return Balancer(pinned.ifname, netns=netns)
    link = Netlink(netns=netns).by_index(pinned.ident.ifindex)
    if link is None:
        return None
    bal = Balancer(link.ifname, netns=netns)
    # Another namespace now has that index (the pins' own namespace is gone).
    return bal if bal.where.ident == pinned.ident else None
