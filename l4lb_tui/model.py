"""The types every caller reads a balancer through (no I/O): its state, its
services and their backends, a sample of its counters, what a load did, and
the XDP program an interface runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from l4lb_tui import abi
from l4lb_tui.ring_fill import FillMode


@dataclass(frozen=True, slots=True)
class XdpAttachment:
    ifname: str
    ifindex: int
    mode: str  # driver, generic, offload (as the kernel reports it)
    prog_id: int


@dataclass(frozen=True, slots=True)
class Backend:
    index: int
    ip: str
    mac: str
    weight: int
    draining: bool = False  # drained by an operator, or at weight 0
    down: bool = False  # the health checker's verdict


@dataclass(frozen=True, slots=True)
class Service:
    key: abi.ServiceKey
    value: abi.ServiceValue
    backends: tuple[Backend, ...]


@dataclass(frozen=True, slots=True)
class State:
    ifname: str
    config: abi.Config
    attachment: XdpAttachment | None
    prog_id: int
    services: tuple[Service, ...]
    # Each service's live ring fingerprint (ring_print), in key order: equal
    # on every node that serves the same backends.  Pairs, not a dict: a
    # State must stay hashable (the console's edit form failed on a dict).
    ring_prints: tuple[tuple[abi.ServiceKey, str], ...] = ()
    source6: str | None = None  # the outer IPv6 source of ip6ip6 (config6), None while unset

    @property
    def fingerprints(self) -> dict[abi.ServiceKey, str]:
        return dict(self.ring_prints)

    @property
    def mode(self) -> str:
        """Attached mode, or "" when our program is loaded but not attached."""
        if self.attachment and self.attachment.prog_id == self.prog_id:
            return self.attachment.mode
        return ""


@dataclass(frozen=True, slots=True)
class FlowOccupancy:
    """How full the flow table is: slots that store a live flow's entry
    (stored, and idle for less than its state's lifetime: flowlive), of its
    capacity.  Counted over the whole table or, for a large one, from an
    evenly hashed part of it (`sampled`: an estimate)."""

    capacity: int
    entries: int
    sampled: bool = False

    @property
    def share(self) -> float:
        return self.entries / self.capacity if self.capacity else 0.0


@dataclass(frozen=True, slots=True)
class Counters:
    """One sample of every counter, with the time it was taken."""

    taken_at: float
    backends: dict[int, tuple[int, int]] = field(default_factory=dict)
    reasons: dict[abi.Reason, tuple[int, int]] = field(default_factory=dict)
    flows: dict[abi.FlowStat, int] = field(default_factory=dict)
    occupancy: FlowOccupancy | None = None  # None: no flow table (offload build)
    flows6: dict[abi.FlowStat, int] = field(default_factory=dict)  # the IPv6 table's
    occupancy6: FlowOccupancy | None = None  # None: no IPv6 table (offload build)


@dataclass(frozen=True, slots=True)
class LoadResult:
    services: tuple[abi.ServiceKey, ...]
    destinations: int
    ring_size: int
    catch_all: bool
    mode: FillMode
