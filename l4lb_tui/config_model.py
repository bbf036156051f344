"""The declarative config: the whole desired state of the balancers on one
host, as `l4lb apply`, `l4lb diff`, `l4lb export` and the daemon read and
write it (model types only; parsing is config_file.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from l4lb_tui.abi import ServiceKey

NEIGHBOUR = "neighbour"  # a backend MAC resolved from the kernel's neighbour table
CHECK_KINDS = ("tcp", "http", "udp")
TARGETS = ("tunnel", "address")
ON_FAILURE = ("drain", "remove")


@dataclass(frozen=True, slots=True)
class BackendSpec:
    ip: str
    mac: str  # or NEIGHBOUR
    weight: int = 1
    drained: bool = False


@dataclass(frozen=True, slots=True)
class HealthSpec:
    """One service's health check: keepalived's and HAProxy's vocabulary."""

    check: str  # one of CHECK_KINDS
    port: int = 0  # 0: the service's port
    path: str = "/"  # http
    status: int = 200  # http: the status that means healthy
    body: str = ""  # http: a substring the body must hold ("" = any)
    send: str = "ping"  # udp: the request
    expect: str = ""  # udp: a substring the reply must hold ("" = any reply)
    interval: float = 1.0
    timeout: float = 0.5
    rise: int = 2
    fall: int = 3
    on_failure: str = "drain"  # one of ON_FAILURE
    quorum: int = 1  # healthy backends below which the service fails open
    target: str = ""  # "tunnel", "address", or "": the tunnel where the balancer can open one


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    spec: str  # as written: one spec may name two services (TCP and UDP)
    keys: tuple[ServiceKey, ...]
    backends: tuple[BackendSpec, ...]
    # None (not in the file): what the running service has, as a load
    # without --fill and --ring-size keeps it; maglev and the default ring
    # for a new service.
    fill: str | None = None
    ring_size: int | None = None
    health: HealthSpec | None = None
    line: int = 0  # where the file declares it, for messages


@dataclass(frozen=True, slots=True)
class BalancerSpec:
    interface: str
    netns: str | None = None
    mode: str = "driver"
    source: str | None = None
    services: tuple[ServiceSpec, ...] = ()
    line: int = 0
    # This host's address the health probes leave from (not a VIP: backends
    # hold the VIPs); needed to probe through the tunnel.
    probe_source: str | None = None
    flows: int | None = None  # the flow table's size at attach; None: the default
    source6: str | None = None  # ip6ip6's outer source; None: kept, or the link's first
    flows6: int | None = None  # the IPv6 flow table's size at attach; None: the default
    # As probe_source, for IPv6 backends: needed to probe them through the tunnel.
    probe_source6: str | None = None

    @property
    def where(self) -> str:
        """How apply and diff name it: the interface, and its namespace."""
        return self.interface + (f" (netns {self.netns})" if self.netns else "")


@dataclass(frozen=True, slots=True)
class BgpSpec:
    """The daemon's BGP speaker: announce this host's healthy VIPs to a router."""

    asn: int
    peer: str  # the router's address
    peer_asn: int
    source: str  # this host's address on the router's link, also the router id
    enabled: bool = True
    bfd: bool = True
    netns: str | None = None  # where the speaker runs (None: where the daemon does)
    dir: str = ""  # the speaker's config, socket and log ("": RUN_DIR/bgp)
    # The IPv6 session that carries the IPv6 VIPs (None: they are not announced).
    peer6: str | None = None  # the router's IPv6 address
    source6: str | None = None  # this host's IPv6 address on the router's link


@dataclass(frozen=True, slots=True)
class NodeTarget:
    """One node `apply` and `diff` reach (a [[node]]): every [[balancer]] of
    the config, in this namespace or on this host (over SSH: exactly one of
    the two), with this node's interface and source."""

    netns: str | None
    interface: str | None = None
    source: str | None = None
    run_dir: str | None = None  # its daemon's L4LB_RUN_DIR, for the nodes view and `l4lb node`
    host: str | None = None  # [user@]host, as ssh takes it
    port: int | None = None  # ssh's -p; None: ssh's own choice

    @property
    def name(self) -> str:
        """How apply and diff name the node, on every line they say of it."""
        return self.host or self.netns or ""


@dataclass(frozen=True, slots=True)
class SshSpec:
    """How `apply` and `diff` reach a host node ([ssh]): ssh's own options,
    and the l4lb to run there (an argv prefix: a path, or `sudo -n l4lb`)."""

    command: tuple[str, ...] = ("l4lb",)
    options: tuple[str, ...] = ()
    config: str | None = None  # ssh -F
    connect_timeout: int = 10  # seconds: ssh's ConnectTimeout
    timeout: float = 300.0  # seconds: one remote command, whole


@dataclass(frozen=True, slots=True)
class Config:
    balancers: tuple[BalancerSpec, ...]
    metrics_listen: str = "127.0.0.1:9440"
    path: Path | None = None
    notes: tuple[str, ...] = field(default=())  # what was read but changes nothing
    bgp: BgpSpec | None = None
    nodes: tuple[NodeTarget, ...] = ()  # [[node]]: apply to each; (): here
    ssh: SshSpec = SshSpec()  # [ssh]: how host nodes are reached
