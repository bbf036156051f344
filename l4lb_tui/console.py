"""The operator console's façade over the control plane.

Screens never run bpftool or netlink themselves: they call a `ConsoleBackend`.
`RealBackend` wraps Balancer and Netlink; `FakeBackend` serves frozen,
deterministic data to snapshot tests, pure screen logic and `--demo`.

Every method may be called from a worker thread, and every failure the
operator can meet arrives as one `ConsoleError` whose message is complete
(the kernel's or bpftool's own words), so screens show it and carry on.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from l4lb_tui import backend_edits, cleanup
from l4lb_tui import layout as L
from l4lb_tui.backend_edits import EditError
from l4lb_tui.backend_table import DecodeCache
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.bpf import BpfError, Bpftool
from l4lb_tui.destinations import (
    Destination,
    DestinationError,
    ParseResult,
    format_csv,
    parse_text,
    read_text,
)
from l4lb_tui.locate import current_netns, with_balancer
from l4lb_tui.model import Backend, Counters, Service, State, XdpAttachment
from l4lb_tui.netlink import LinkInfo, Netlink, NetlinkError
from l4lb_tui.privilege import privilege_problem
from l4lb_tui.services import merge_services

__all__ = [
    "ConsoleBackend",
    "ConsoleError",
    "ConsoleSettings",
    "FakeBackend",
    "LinkRow",
    "Preview",
    "RealBackend",
    "Sample",
    "StaleError",
    "merge_service_specs",
    "parse_service_specs",
    "preview_csv",
    "save_csv",
    "service_spec",
]


class ConsoleError(Exception):
    """Something the operator must read; the message is complete on its own."""


class StaleError(ConsoleError):
    """An edit refused because another writer changed what it was made against."""

    def __init__(self, changed: backend_edits.SetChanged) -> None:
        super().__init__(str(changed))
        self.changed = changed


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    poll_interval: float | None = 1.0  # dashboard; None: poll only when asked (tests)
    links_interval: float | None = 2.0  # interfaces screen
    start_dir: Path = field(default_factory=Path.cwd)  # where file pickers open


@dataclass(frozen=True, slots=True)
class LinkRow:
    """One interface as the interfaces screen lists it."""

    link: LinkInfo
    has_balancer: bool  # this product's pins exist for the interface


@dataclass(frozen=True, slots=True)
class Sample:
    """One poll of one interface.

    `state` and `counters` are None when no balancer is loaded there; `notes`
    are warnings the dashboard keeps on its status line (program replaced,
    link down, ...), as opposed to errors, which raise.
    """

    ifname: str
    link: LinkInfo
    state: State | None
    counters: Counters | None
    notes: tuple[str, ...] = ()


Change = backend_edits.Change


class ConsoleBackend(Protocol):
    def environment_problems(self) -> list[str]: ...
    def links(self) -> list[LinkRow]: ...
    def sample(self, ifname: str) -> Sample: ...
    def state(self, ifname: str) -> State | None: ...
    def attach(self, ifname: str, mode: str) -> str: ...
    def detach(self, ifname: str) -> str: ...
    def edit(self, ifname: str, changes: Mapping[L.ServiceKey, Change]) -> backend_edits.Done: ...
    def neighbour_mac(self, ip: str) -> str | None: ...


# -- pure helpers shared by the screens ------------------------------------


def service_spec(key: L.ServiceKey) -> str:
    """The spec `parse_service` reads back to this one key ("" = catch-all)."""
    if key.is_catch_all:
        return ""
    port = f":{key.port}" if key.port else ""
    proto = L.PROTO_NAMES.get(key.proto, "")
    return f"{key.vip}{port}/{proto}" if proto in {"tcp", "udp"} else f"{key.vip}{port}"


def merge_service_specs(text: str) -> tuple[list[L.ServiceKey], list[str]]:
    """Comma- or space-separated specs: each service once, and a notice for
    each spec that names one again (blank means the catch-all service).

    Raises ValueError with the operator-readable message of the first bad spec.
    """
    keys, notices = merge_services(s for s in re.split(r"[,\s]+", text.strip()) if s)
    return keys or [L.CATCH_ALL], notices


def parse_service_specs(text: str) -> list[L.ServiceKey]:
    return merge_service_specs(text)[0]


@dataclass(frozen=True, slots=True)
class Preview:
    """What the load screen shows before anything is applied."""

    path: Path
    result: ParseResult | None
    error: str = ""  # the file itself could not be read

    @property
    def ok(self) -> bool:
        return (
            self.result is not None
            and self.result.ok
            and len(self.result.destinations) <= L.MAX_BACKENDS
        )

    @property
    def summary(self) -> str:
        if self.result is None:
            return self.error
        count = len(self.result.destinations)
        errors = len(self.result.errors)
        if errors:
            return f"{count:,} valid destinations, {errors:,} errors: nothing will be loaded"
        if count == 0:
            return "no destinations in file"
        if count > L.MAX_BACKENDS:
            return f"{count:,} destinations: the balancer holds at most {L.MAX_BACKENDS:,}"
        return f"{count:,} destinations, no errors"


def preview_csv(path: Path) -> Preview:
    """Read and parse a destinations file without touching the balancer."""
    try:
        return Preview(path, parse_text(read_text(path)))
    except DestinationError as exc:
        return Preview(path, None, str(exc))


def save_csv(path: Path, dests: Sequence[Destination]) -> str:
    """Write the seed's format atomically: a temp file beside it, then rename.

    A reader (or a crash) sees the old file or the new one, never half of one.
    """
    path = path.expanduser()
    if path.is_dir():
        raise ConsoleError(f"{path}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise ConsoleError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(format_csv(dests))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConsoleError(f"cannot write {path}: {exc.strerror}") from None
    return f"saved {len(dests):,} backends to {path}"


# -- the real control plane ---------------------------------------------------


@contextmanager
def _operator_errors() -> Iterator[None]:
    """The layers' own exceptions become ConsoleError with the same words."""
    try:
        yield
    except backend_edits.SetChanged as exc:
        raise StaleError(exc) from None
    except (BalancerError, BpfError, NetlinkError, DestinationError, EditError) as exc:
        raise ConsoleError(str(exc)) from None
    except OSError as exc:
        raise ConsoleError(f"{exc.filename or 'system'}: {exc.strerror}") from None


class RealBackend:
    """The console's access to the kernel, through Balancer and Netlink."""

    def __init__(self, bpftool: Bpftool | None = None, netlink: Netlink | None = None) -> None:
        self.bpftool = bpftool or Bpftool()
        self.netlink = netlink or Netlink()
        # One reading Balancer per interface, kept between polls: it remembers
        # that the map layouts were checked, which a fresh one redoes every
        # second.
        self._readers: dict[str, Balancer] = {}
        self._reader_progs: dict[str, int] = {}
        self._readers_lock = threading.Lock()
        # One decode cache for every Balancer made here, the readers and the
        # writers: an edit right after a poll reads the same bytes.
        self._decoded = DecodeCache()

    def _balancer(self, ifname: str) -> Balancer:
        with _operator_errors():
            return Balancer(ifname, self.bpftool, self.netlink, decoded=self._decoded)

    def _reader(self, ifname: str) -> tuple[Balancer, LinkInfo]:
        """The reading Balancer of `ifname` and its link now.  A reader
        follows its interface by index: after a rename, the link it answers
        with has the new name, and the reader is kept under that name."""
        with self._readers_lock:
            bal = self._readers.get(ifname)
        if bal is None:
            bal = self._balancer(ifname)
            with self._readers_lock:
                self._readers[ifname] = bal
        try:
            link = bal.link()
        except BalancerError as exc:
            self._forget_reader(ifname)
            raise ConsoleError(f"{ifname}: {exc} — it may have been deleted") from None
        if link.ifname != ifname:
            with self._readers_lock:
                self._readers.pop(ifname, None)
                self._readers[link.ifname] = bal
                prog = self._reader_progs.pop(ifname, None)
                if prog is not None:
                    self._reader_progs[link.ifname] = prog
        return bal, link

    def _read_state(self, ifname: str, bal: Balancer) -> State:
        state = bal.state()
        with self._readers_lock:
            if self._reader_progs.setdefault(ifname, state.prog_id) != state.prog_id:
                # Another program took its place (detached and attached again,
                # maybe by another version): check its layout afresh.
                self._readers.pop(ifname, None)
                self._reader_progs[ifname] = state.prog_id
        return state

    def _forget_reader(self, ifname: str) -> None:
        with self._readers_lock:
            self._readers.pop(ifname, None)
            self._reader_progs.pop(ifname, None)

    def _need_root(self, what: str) -> None:
        problem = privilege_problem(what, "restart the console with sudo")
        if problem:
            raise ConsoleError(problem)

    def environment_problems(self) -> list[str]:
        problems = []
        if os.geteuid() != 0:
            problems.append("not root: interfaces are listed, but the balancer needs sudo")
        if shutil.which(self.bpftool.binary) is None:
            problems.append(
                f"{self.bpftool.binary} not found: install it with 'apt-get install bpftool'"
            )
        return problems

    def links(self) -> list[LinkRow]:
        with _operator_errors():
            found = self.netlink.links()
            ours = with_balancer(found, current_netns(self.netlink))
        return [LinkRow(link, link.ifindex in ours) for link in found]

    def sample(self, ifname: str) -> Sample:
        """One poll of `ifname`, or of the name it was renamed to: the
        sample's `ifname` is the interface's name now."""
        bal, link = self._reader(ifname)
        ifname = link.ifname
        if not bal.is_loaded():
            self._forget_reader(ifname)
            notes = [f"no balancer on {ifname}: press m to attach one"]
            if link.xdp_prog_id:
                notes.append(
                    f"{ifname} runs another XDP program (id {link.xdp_prog_id}, "
                    f"{link.xdp_mode} mode)"
                )
            return Sample(ifname, link, None, None, tuple(notes))
        self._need_root("reading the balancer's maps")
        with _operator_errors():
            state = self._read_state(ifname, bal)
            counters = bal.counters()
        return Sample(ifname, link, state, counters, attachment_notes(state, link))

    def state(self, ifname: str) -> State | None:
        """The balancer's lists as the kernel holds them now (None: no balancer)."""
        bal, link = self._reader(ifname)
        ifname = link.ifname
        if not bal.is_loaded():
            self._forget_reader(ifname)
            return None
        self._need_root("reading the balancer's maps")
        with _operator_errors():
            return self._read_state(ifname, bal)

    def attach(self, ifname: str, mode: str) -> str:
        self._need_root("attaching")
        with _operator_errors():
            return self._balancer(ifname).attach(mode)

    def detach(self, ifname: str) -> str:
        self._need_root("detaching")
        with _operator_errors():
            # Also when the interface is gone: its pins are found by the name they record.
            return cleanup.detach(ifname, netlink=self.netlink, bpftool=self.bpftool)

    def edit(self, ifname: str, changes: Mapping[L.ServiceKey, Change]) -> backend_edits.Done:
        """Read, change and write in one step, under the interface's lock."""
        self._need_root("changing backends")
        with _operator_errors():
            return self._balancer(ifname).edit(changes)

    def neighbour_mac(self, ip: str) -> str | None:
        with _operator_errors():
            return self.netlink.neighbour_mac(ip)


def attachment_notes(state: State, link: LinkInfo) -> tuple[str, ...]:
    """Warnings for a balancer whose program is no longer the attached one."""
    notes = []
    att = state.attachment
    if att is None:
        notes.append(
            f"the balancer is loaded but not attached to {state.ifname} "
            "(detached by someone else?): press m to attach"
        )
    elif att.prog_id != state.prog_id:
        notes.append(
            f"{state.ifname} now runs another XDP program (id {att.prog_id}, {att.mode} mode); "
            f"this balancer's program {state.prog_id} gets no traffic"
        )
    if link.state == "DOWN" or not link.admin_up:
        notes.append(f"{state.ifname} is down")
    return tuple(notes)


# -- frozen data for tests and --demo -----------------------------------------

DEMO_SERVICE = L.ServiceKey("10.0.0.4", 8080, L.PROTO_TCP)


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


DEMO_DNS = L.ServiceKey("10.0.0.4", 53, L.PROTO_UDP)


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


@dataclass
class _FakeBalancer:
    mode: str
    prog_id: int
    services: dict[L.ServiceKey, list[Backend]]
    # Each list as loaded: the drain flag and the weight apart, as the kernel keeps them.
    lists: dict[L.ServiceKey, backend_edits.Members] = field(default_factory=dict)
    foreign_prog: int = 0  # someone else's program, attached in our place


class FakeBackend:
    """Frozen links and balancers; counters advance one "second" per sample.

    Rates are a pure function of the backend slot and the sample number, so
    snapshots are identical run after run.  Tests inject failures with
    `fail_next`, and change the world with `remove_link` / `replace_program`.
    """

    def __init__(self, links: Sequence[LinkInfo] | None = None) -> None:
        self._lock = threading.Lock()
        self._links = {link.ifname: link for link in (links or demo_links())}
        self._lbs: dict[str, _FakeBalancer] = {}
        self._ticks: dict[str, int] = {}
        self._totals: dict[tuple[str, int], tuple[int, int]] = {}
        self._next_prog = 42
        self.neighbours: dict[str, str] = {}
        self.problems: list[str] = []
        self.failures: dict[str, str] = {}
        self.writes: list[str] = []  # each successful write, for tests to read

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
                return Sample(
                    ifname, link, None, None, (f"no balancer on {ifname}: press m to attach one",)
                )
            tick = self._ticks[ifname] = self._ticks.get(ifname, 0) + 1
            state = self._state(ifname, link, lb)
            counters = self._advance(ifname, state, tick)
            return Sample(ifname, link, state, counters, attachment_notes(state, link))

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
            Service(key, L.ServiceValue(n + 1, 0, 16381, 1), tuple(members))
            for n, (key, members) in enumerate(sorted(lb.services.items()))
        )
        flags = L.CFG_CATCH_ALL if L.CATCH_ALL in lb.services else 0
        return State(
            ifname, L.Config("10.0.0.1", link.mac, flags), attachment, lb.prog_id, services
        )

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
            r: (tick * (7 * r.value + 3) if r.value < 6 else r.value - 6, 0) for r in L.Reason
        }
        flows = {
            L.FlowStat.HIT: tick * 98_765,
            L.FlowStat.NEW: tick * 1_234,
            L.FlowStat.STALE: tick * 5,
            L.FlowStat.STORED: tick * 21,
            L.FlowStat.UNTRACKED: tick * 3,
            L.FlowStat.REUSED: tick * 2,
        }
        return Counters(float(tick), backends, reasons, flows)

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
            return message

    def detach(self, ifname: str) -> str:
        with self._lock:
            self._check("detach")
            lb = self._lbs.pop(ifname, None)
            if lb is None:
                raise ConsoleError(f"no balancer on {ifname}")
            self.writes.append(f"detach {ifname}")
            return f"detached from {ifname} ({lb.mode} mode)"

    def load(
        self, ifname: str, services: Sequence[L.ServiceKey], dests: Sequence[Destination]
    ) -> None:
        """Each service's whole list (the demo's, or another writer's in tests)."""
        keys = list(services) or [L.CATCH_ALL]
        self.edit(ifname, dict.fromkeys(keys, backend_edits.Load(tuple(dests))))

    def edit(self, ifname: str, changes: Mapping[L.ServiceKey, Change]) -> backend_edits.Done:
        """What Balancer.edit does: the same rules run on every list, then each written."""
        with self._lock:
            self._check("edit")
            lb = self._lbs.get(ifname)
            if lb is None:
                raise ConsoleError(f"no balancer on {ifname}: run 'l4lb attach -i {ifname}' first")
            with _operator_errors():
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
        self, ifname: str, lb: _FakeBalancer, key: L.ServiceKey, dests: backend_edits.Members
    ) -> None:
        """One service's new list; unchanged (IP, MAC) pairs keep their slots."""
        old = {(b.ip, b.mac): b.index for b in lb.services.get(key, [])}
        taken = {b.index for k, m in lb.services.items() if k != key for b in m}
        taken |= set(old.values())
        free = (i for i in range(L.MAX_BACKENDS) if i not in taken)
        members = []
        for d in dests:
            index = old.get((d.ip, d.mac))
            if index is None:
                index = next(free)
                self._totals.pop((ifname, index), None)  # a fresh slot starts at zero
            draining = d.drained or d.weight == 0  # as BackendEntry.draining reads it
            members.append(Backend(index, d.ip, d.mac, d.weight, draining))
        lb.services[key] = members
        lb.lists[key] = dests

    def neighbour_mac(self, ip: str) -> str | None:
        self._check("neighbour")
        return self.neighbours.get(ip)
