"""The console's frozen backend, `FakeBackend`: made-up links and balancers
for `l4lb-tui --demo` and the console's tests, touching no kernel state.

Only `--demo` imports it in the product (see app.py).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from l4lb_tui import abi, backend_edits, events, flowsize
from l4lb_tui.console_backend import (
    Change,
    ConsoleError,
    LinkRow,
    Sample,
    attachment_notes,
    new_table_line,
    no_balancer_note,
)
from l4lb_tui.console_daemon import DaemonView, Drift
from l4lb_tui.console_kernel import operator_errors
from l4lb_tui.destinations import Destination
from l4lb_tui.health_status import HealthEntry
from l4lb_tui.model import Backend, Counters, FlowOccupancy, Service, State, XdpAttachment
from l4lb_tui.netlink import LinkInfo

DEMO_SERVICE = abi.ServiceKey("10.0.0.4", 8080, abi.PROTO_TCP)


def _link(name: str, index: int, **kw: object) -> LinkInfo:
    base: dict[str, object] = {
        "ifname": name,
        "ifindex": index,
        "mac": f"02:00:00:00:00:{index:02x}",
        "mtu": 1500,
        "state": "UP",
        "admin_up": True,
        "kind": "veth",
        "driver": "veth",
        "xdp_mode": "",
        "xdp_prog_id": 0,
        "ipv4": (),
    }
    base.update(kw)
    return LinkInfo(**base)  # type: ignore[arg-type]


def demo_links() -> list[LinkInfo]:
    return [
        _link("lo", 1, mac="00:00:00:00:00:00", mtu=65536, state="UNKNOWN", kind="",
              driver="", ipv4=("127.0.0.1/8",)),
        _link("eth0", 2, mac="52:54:00:12:34:56", kind="", driver="virtio_net",
              ipv4=("192.168.122.10/24",)),
        _link("lb0", 3, ipv4=("10.0.0.4/24",)),
        _link("lb1", 4, ipv4=("10.0.1.4/24",)),
        _link("nfp0", 5, mac="00:15:4d:00:00:05", mtu=9000, state="DOWN", admin_up=False,
              kind="", driver="nfp"),
    ]  # fmt: skip


DEMO_DNS = abi.ServiceKey("10.0.0.4", 53, abi.PROTO_UDP)


def demo_backends(count: int) -> list[Destination]:
    """Weights 1 and 2; slot 5 has weight 0 and slot 3 is drained (keeping weight 2)."""
    return [
        Destination(
            f"10.0.1.{i + 1}",
            f"00:15:4d:00:01:{i + 1:02x}",
            0 if i == 5 else 1 + i % 2,
            drained=i == 3,
        )
        for i in range(count)
    ]


def demo_dns_backends() -> list[Destination]:
    return [Destination(f"10.0.2.{i + 1}", f"00:15:4d:00:02:{i + 1:02x}") for i in range(3)]


def demo_daemon() -> DaemonView:
    """What a daemon health-checking the demo's web service would publish:
    one backend down, one rising, the rest up; the config as running."""
    now = time.time()
    states = {2: ("down", "refused", False), 6: ("rising", "HTTP 200", True)}
    health = {}
    for n, d in enumerate(demo_backends(8)):
        status, result, ok = states.get(n, ("up", "HTTP 200", True))
        health[(str(DEMO_SERVICE), d.ip)] = HealthEntry(
            "lb0", "", str(DEMO_SERVICE), d.ip, status, result, ok, 0.3 + n / 10, now - 60 * n
        )
    return DaemonView(4242, "/etc/l4lb/l4lb.toml", False, health, Drift())


@dataclass
class _FakeBalancer:
    mode: str
    prog_id: int
    services: dict[abi.ServiceKey, list[Backend]]
    # Each list as loaded: the drain flag and the weight apart, as the kernel keeps them.
    lists: dict[abi.ServiceKey, backend_edits.Members] = field(default_factory=dict)
    foreign_prog: int = 0  # someone else's program, attached in our place


class FakeBackend:
    """Frozen links and balancers; counters advance one "second" per sample.

    Rates are a pure function of the backend slot and the sample number, so
    snapshots are identical run after run.  Tests inject failures with
    `fail_next`, and change the world with `remove_link` / `replace_program`.
    """

    def __init__(
        self,
        links: Sequence[LinkInfo] | None = None,
        events_path: Path | None = None,
        readonly: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        # The event log: a file several fakes share (two consoles), or a list.
        self.events_path = events_path
        self._events: list[events.Event] = []
        self.readonly = readonly
        self.source6: str | None = None  # the outer IPv6 source, as --source6 sets it
        self.daemon: DaemonView | None = None  # what a daemon would publish
        self.exported = "# l4lb export of the running balancers (demo)\n"
        self._links = {link.ifname: link for link in (links or demo_links())}
        self._lbs: dict[str, _FakeBalancer] = {}
        self._ticks: dict[str, int] = {}
        self._totals: dict[tuple[str, int], tuple[int, int]] = {}
        self._next_prog = 42
        self.neighbours: dict[str, str] = {}
        self.problems: list[str] = []
        self.failures: dict[str, str] = {}
        self.writes: list[str] = []  # each successful write, for tests to read
        # The flow tables' occupancy every sample reports (IPv4's, IPv6's);
        # None: not shown, as before tables were counted.
        self.tables: tuple[FlowOccupancy | None, FlowOccupancy | None] = (None, None)

    @classmethod
    def demo(cls, backends: int = 8, dns: bool = False) -> FakeBackend:
        """lb0 balances DEMO_SERVICE; with `dns`, DEMO_DNS too (`--demo` shows both)."""
        fake = cls()
        fake.attach("lb0", "driver")
        fake.load("lb0", [DEMO_SERVICE], demo_backends(backends))
        if dns:
            fake.load("lb0", [DEMO_DNS], demo_dns_backends())
        fake.writes.clear()
        fake.neighbours = {"10.0.1.200": "00:15:4d:00:01:c8"}
        return fake

    # -- test hooks -----------------------------------------------------

    def fail_next(self, op: str, message: str) -> None:
        self.failures[op] = message

    def remove_link(self, ifname: str) -> None:
        with self._lock:
            self._links.pop(ifname, None)

    def add_link(self, link: LinkInfo) -> None:
        with self._lock:
            self._links[link.ifname] = link

    def replace_program(self, ifname: str, prog_id: int) -> None:
        with self._lock:
            self._lbs[ifname].foreign_prog = prog_id

    def _check(self, op: str) -> None:
        if self.readonly and op in ("attach", "detach", "edit"):
            raise ConsoleError("read-only console (--readonly): nothing was changed")
        message = self.failures.pop(op, None)
        if message is not None:
            raise ConsoleError(message)

    def _get_link(self, ifname: str) -> LinkInfo:
        link = self._links.get(ifname)
        if link is None:
            raise ConsoleError(
                f"{ifname}: interface {ifname} does not exist — it may have been deleted"
            )
        lb = self._lbs.get(ifname)
        if lb is None:
            return link
        if lb.foreign_prog:
            return replace(link, xdp_mode="driver", xdp_prog_id=lb.foreign_prog)
        return replace(link, xdp_mode=lb.mode, xdp_prog_id=lb.prog_id if lb.mode else 0)

    # -- ConsoleBackend ---------------------------------------------------

    def environment_problems(self) -> list[str]:
        return list(self.problems)

    def links(self) -> list[LinkRow]:
        with self._lock:
            self._check("links")
            return [LinkRow(self._get_link(n), n in self._lbs) for n in self._links]

    def sample(self, ifname: str) -> Sample:
        with self._lock:
            self._check("sample")
            link = self._get_link(ifname)
            lb = self._lbs.get(ifname)
            if lb is None:
                return Sample(ifname, link, None, None, (no_balancer_note(link),))
            tick = self._ticks[ifname] = self._ticks.get(ifname, 0) + 1
            state = self._state(ifname, link, lb)
            counters = self._advance(ifname, state, tick)
            notes = attachment_notes(state, link)
            return Sample(ifname, link, state, counters, notes, self.daemon)

    def state(self, ifname: str) -> State | None:
        with self._lock:
            self._check("state")
            link = self._get_link(ifname)
            lb = self._lbs.get(ifname)
            return None if lb is None else self._state(ifname, link, lb)

    def _state(self, ifname: str, link: LinkInfo, lb: _FakeBalancer) -> State:
        attachment = None
        if lb.foreign_prog:
            attachment = XdpAttachment(ifname, link.ifindex, "driver", lb.foreign_prog)
        elif lb.mode:
            attachment = XdpAttachment(ifname, link.ifindex, lb.mode, lb.prog_id)
        services = tuple(
            Service(key, abi.ServiceValue(n + 1, 0, 16381, 1), tuple(members))
            for n, (key, members) in enumerate(sorted(lb.services.items()))
        )
        flags = abi.CFG_CATCH_ALL if abi.CATCH_ALL in lb.services else 0
        config = abi.Config("10.0.0.1", link.mac, flags)
        return State(ifname, config, attachment, lb.prog_id, services, source6=self.source6)

    def _advance(self, ifname: str, state: State, tick: int) -> Counters:
        backends = {}
        for svc in state.services:
            for be in svc.backends:
                # A steady base per slot with a slow wobble: sparklines and the
                # chart get shape, and every run computes the same numbers.
                wobble = 1 + 0.5 * math.sin(0.4 * tick + be.index)
                pps = round(1000 * (1 + be.index % 5) * wobble)
                if be.draining:  # no new flows; the established ones carry on
                    pps = 0 if be.weight == 0 else pps // 5
                pkts, nbytes = self._totals.get((ifname, be.index), (0, 0))
                pkts, nbytes = pkts + pps, nbytes + pps * (64 + 100 * (be.index % 4))
                self._totals[(ifname, be.index)] = (pkts, nbytes)
                backends[be.index] = (pkts, nbytes)
        reasons = {
            r: (tick * (7 * r.value + 3) if r.value < 6 else r.value - 6, 0) for r in abi.Reason
        }
        flows = {
            abi.FlowStat.HIT: tick * 98_765,
            abi.FlowStat.NEW: tick * 1_234,
            abi.FlowStat.STALE: tick * 5,
            abi.FlowStat.STORED: tick * 21,
            abi.FlowStat.UNTRACKED: tick * 3,
            abi.FlowStat.REUSED: tick * 2,
        }
        occ, occ6 = self.tables
        flows6 = {abi.FlowStat.HIT: tick * 4_321} if occ6 is not None else {}
        return Counters(float(tick), backends, reasons, flows, occ, flows6, occ6)

    def attach(self, ifname: str, mode: str) -> str:
        with self._lock:
            self._check("attach")
            self._get_link(ifname)
            if mode == "offload":
                raise ConsoleError(
                    f"the kernel refused offload on {ifname}: Error: interface xdpoffload "
                    "attach failed: Invalid argument; the running state is unchanged"
                )
            lb = self._lbs.get(ifname)
            if lb is None:
                self._lbs[ifname] = _FakeBalancer(mode, self._next_prog, {})
                self._next_prog += 1
                message = f"attached to {ifname} in {mode} mode"
            elif lb.mode == mode and not lb.foreign_prog:
                return f"already attached to {ifname} in {mode} mode"
            else:
                message = f"switched {ifname} from {lb.mode or 'detached'} to {mode} mode"
                if lb.mode and not lb.foreign_prog:
                    message += " (gap 0.08 ms, no packet arrived in it)"
                lb.mode, lb.foreign_prog = mode, 0
            self.writes.append(f"attach {ifname} {mode}")
        self.journal(message, ifname)
        return message

    def detach(self, ifname: str) -> str:
        with self._lock:
            self._check("detach")
            lb = self._lbs.pop(ifname, None)
            if lb is None:
                raise ConsoleError(f"no balancer on {ifname}")
            self.writes.append(f"detach {ifname}")
        self.journal(f"detached from {ifname} ({lb.mode} mode)", ifname)
        return f"detached from {ifname} ({lb.mode} mode)"

    def load(
        self, ifname: str, services: Sequence[abi.ServiceKey], dests: Sequence[Destination]
    ) -> None:
        """Each service's whole list (the demo's, or another writer's in tests)."""
        keys = list(services) or [abi.CATCH_ALL]
        self.edit(ifname, dict.fromkeys(keys, backend_edits.Load(tuple(dests))))

    def edit(self, ifname: str, changes: Mapping[abi.ServiceKey, Change]) -> backend_edits.Done:
        """What Balancer.edit does: the same rules run on every list, then each written."""
        with self._lock:
            self._check("edit")
            lb = self._lbs.get(ifname)
            if lb is None:
                raise ConsoleError(f"no balancer on {ifname}: run 'l4lb attach -i {ifname}' first")
            with operator_errors():
                done = backend_edits.apply_all(changes, lb.lists.get)
            for key, (_, after) in done.items():
                if after is None:
                    lb.lists.pop(key, None)
                    lb.services.pop(key, None)
                    self.writes.append(f"remove {ifname} {key}")
                else:
                    self._reload(ifname, lb, key, after)
                    self.writes.append(f"edit {ifname} {key} {len(after)}")
            return done

    def _reload(
        self, ifname: str, lb: _FakeBalancer, key: abi.ServiceKey, dests: backend_edits.Members
    ) -> None:
        """One service's new list; unchanged (IP, MAC) pairs keep their slots."""
        old = {(b.ip, b.mac): b.index for b in lb.services.get(key, [])}
        taken = {b.index for k, m in lb.services.items() if k != key for b in m}
        taken |= set(old.values())
        free = (i for i in range(abi.MAX_BACKENDS) if i not in taken)
        members = []
        for d in dests:
            index = old.get((d.ip, d.mac))
            if index is None:
                index = next(free)
                self._totals.pop((ifname, index), None)  # a fresh slot starts at zero
            draining = d.drained or d.weight == 0  # as BackendEntry.draining reads it
            members.append(Backend(index, d.ip, d.mac, d.weight, draining, d.down))
        lb.services[key] = members
        lb.lists[key] = dests

    def neighbour_mac(self, ip: str, ifname: str = "", ask: bool = False) -> str | None:
        self._check("neighbour")
        return self.neighbours.get(ip)

    def journal(self, what: str, interface: str, service: str = "") -> None:
        event = events.Event(
            time.time(), "console", what, interface, service, pid=os.getpid(), user="demo"
        )
        if self.events_path is not None:
            events.record(event, self.events_path)
        else:
            with self._lock:
                self._events.append(event)

    def events(self, last: int = 1000) -> list[events.Event]:
        if self.events_path is not None:
            return events.read(self.events_path, last)
        with self._lock:
            return self._events[-last:]

    def new_table(self, ifname: str) -> str:
        return new_table_line(flowsize.DEFAULT_FLOWS)

    def export_config(self) -> str:
        self._check("export")
        return self.exported
