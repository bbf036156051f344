"""What the health checks exchange: probes, their results, a backend's health
and a service's verdict.  Types only; the rules are in `health.logic`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Target(StrEnum):
    """Where a probe is addressed.

    ADDRESS: the backend's own address and the check's port; it sees the
    server, not what clients reach.  TUNNEL: the VIP and port, wrapped in IPIP
    (ip6ip6 for an IPv6 backend) to the backend as the balancer wraps client
    traffic; it also sees the VIP on the backend's loopback and its
    decapsulation.
    """

    ADDRESS = "address"
    TUNNEL = "tunnel"


class Status(StrEnum):
    """A backend's health, HAProxy's way: FALLING is still up (failing, fewer
    than `fall` times in a row), RISING still down (passing, fewer than `rise`)."""

    UNKNOWN = "unknown"  # no result yet
    UP = "up"
    FALLING = "falling"
    DOWN = "down"
    RISING = "rising"


HEALTHY = frozenset({Status.UP, Status.FALLING})


class CheckKey(NamedTuple):
    """One check: a backend of a service.  `service` is the caller's name for
    the service (e.g. its spec as written); the engine never reads it.  A
    tuple: thousands of results a second look their check up by it, and a
    tuple hashes in C."""

    service: str
    backend: str

    def __str__(self) -> str:
        return f"{self.backend} of {self.service}"


@dataclass(frozen=True, slots=True)
class Probe:
    """Everything the sockets need for one backend's check, every interval.

    `address:port` is where packets are addressed: the backend's own address
    (Target.ADDRESS) or the VIP (Target.TUNNEL, with the tunnel's `mark` and
    `source`).
    """

    key: CheckKey
    kind: str  # tcp | http | udp
    target: Target
    address: str
    port: int
    interval: float
    timeout: float
    mark: int = 0  # SO_MARK; 0: none
    source: str = ""  # the address to send from; "": the kernel's choice
    request: bytes = b""  # http: the whole request; udp: the datagram
    status: int = 200  # http: the status that means healthy
    expect: bytes = b""  # http: in the body; udp: in the reply ("" = anything)


class ProbeResult(NamedTuple):
    """One probe's outcome.  `latency` is seconds from its start to its
    verdict (the timeout when it timed out); `started` is on the monotonic
    clock.  A tuple, as immutable as a frozen dataclass and made in C: there
    are thousands a second."""

    key: CheckKey
    target: Target
    ok: bool
    latency: float
    detail: str  # what was seen: "connected", "refused", "HTTP 503", ...
    started: float


class BackendHealth(NamedTuple):
    """A backend's health after its results so far (a tuple, as ProbeResult).

    `streak` counts the results in a row that agree with the way the status
    is heading: passes while RISING, failures while FALLING, and the run
    behind UP or DOWN.  `since` is when the status last changed (the monotonic
    start of the probe that changed it; 0 before any result).
    """

    status: Status = Status.UNKNOWN
    streak: int = 0
    last: ProbeResult | None = None
    since: float = 0.0

    @property
    def healthy(self) -> bool:
        return self.status in HEALTHY

    @property
    def known(self) -> bool:
        return self.status is not Status.UNKNOWN


@dataclass(frozen=True, slots=True)
class ServiceVerdict:
    """What one service's backends should be, from their health.

    `serve` takes new connections; `take_out` is drained or removed, as
    `on_failure` says.  While `held`, some backend has no result yet and
    nothing should change (a restart must not drain the pool); when
    `failed_open`, fewer than `quorum` backends are healthy and all of them
    serve.  `message` says so for the operator ("" when all is well).
    """

    healthy: frozenset[str]
    unhealthy: frozenset[str]
    waiting: frozenset[str]
    serve: frozenset[str]
    take_out: frozenset[str]
    on_failure: str
    quorum: int
    held: bool = False
    failed_open: bool = False
    message: str = ""
