"""Prometheus metrics of the running balancers, from the same state and
counters that `l4lb stats` reads, so the two always agree (pure: the daemon
gathers the samples and serves the text).

Names follow Prometheus's conventions (`_total` counters, base units) and
node_exporter's IPVS collector where it has a name for the same thing
(`backend`, `weight`).  Every series carries the interface and, where it has
one, the service (`10.0.0.4:8080/tcp`) and the backend's address; a
balancer in a network namespace adds `netns`, so two interfaces of one name in
two namespaces are two series.  `l4lb_balancer_up` is 1 for each balancer
read, 0 for one configured that could not be (its other series are left
out, the scrape still serves the rest).

The text is written here, not by prometheus_client's generate_latest: that
formats every sample afresh (about 370 ms for 4,096 backends' 20,000
series here), where a label set built once per backend and one f-string per
line takes a few ms.  prometheus_client still keeps what it does well (the
health checker's latency histogram, whose text is appended) and parses this
text in the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from l4lb_tui.abi import FlowStat, Reason
from l4lb_tui.model import Counters, State


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    """What the health checker holds of one service, if one runs."""

    healthy: frozenset[str]  # backend addresses
    quorum: int
    failed_open: bool


@dataclass(frozen=True, slots=True)
class BalancerSample:
    state: State
    counters: Counters
    health: Mapping[str, ServiceHealth] = field(default_factory=dict)  # by service
    netns: str = ""  # "": the host's

    def where(self, *names: str) -> tuple[str, ...]:
        """The label names of this balancer's series, then `names`."""
        return ("interface", "netns", *names) if self.netns else ("interface", *names)

    def at(self, *values: str) -> tuple[str, ...]:
        """The label values matching `where`."""
        here = (self.state.ifname, self.netns) if self.netns else (self.state.ifname,)
        return (*here, *values)


_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_LABELS: dict[tuple[str, ...], str] = {}


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    """`{name="value",...}`, built once per label set."""
    key = names + values
    found = _LABELS.get(key)
    if found is None:
        if len(_LABELS) > 100_000:
            _LABELS.clear()
        pairs = ",".join(
            f'{n}="{v.translate(_ESCAPES)}"' for n, v in zip(names, values, strict=True)
        )
        found = _LABELS[key] = "{" + pairs + "}"
    return found


class _Text:
    """Metric families written out as the Prometheus text format (0.0.4)."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, list[str]]] = {}

    def family(self, name: str, kind: str, text: str) -> list[str]:
        return self.families.setdefault(name, (kind, text, []))[2]

    def render(self) -> str:
        out = []
        for name, (kind, text, lines) in self.families.items():
            out.append(f"# HELP {name} {text}\n# TYPE {name} {kind}\n")
            out.extend(lines)
        return "".join(out)


def _backends(t: _Text, samples: Sequence[BalancerSample]) -> None:
    pkts = t.family("l4lb_backend_packets_total", "counter", "Packets balanced to a backend")
    octets = t.family(
        "l4lb_backend_bytes_total", "counter", "Bytes balanced to a backend (as received)"
    )
    weight = t.family("l4lb_backend_weight", "gauge", "A backend's weight")
    drained = t.family(
        "l4lb_backend_drained", "gauge", "1 while an operator drains the backend (or weight 0)"
    )
    up = t.family("l4lb_backend_up", "gauge", "0 while the health checker drains the backend")
    for s in samples:
        for svc in s.state.services:
            service = str(svc.key)
            for be in svc.backends:
                at = _labels(s.where("service", "backend"), s.at(service, be.ip))
                p, b = s.counters.backends.get(be.index, (0, 0))
                pkts.append(f"l4lb_backend_packets_total{at} {p}\n")
                octets.append(f"l4lb_backend_bytes_total{at} {b}\n")
                weight.append(f"l4lb_backend_weight{at} {be.weight}\n")
                drained.append(f"l4lb_backend_drained{at} {int(be.draining)}\n")
                up.append(f"l4lb_backend_up{at} {int(not be.down)}\n")


def _services(t: _Text, samples: Sequence[BalancerSample]) -> None:
    families = {
        "backends": t.family("l4lb_service_backends", "gauge", "A service's backends"),
        "backends_serving": t.family(
            "l4lb_service_backends_serving",
            "gauge",
            "Backends that take new connections (weight above 0, not drained, up)",
        ),
        "backends_healthy": t.family(
            "l4lb_service_backends_healthy", "gauge", "Backends the health checker holds healthy"
        ),
        "quorum": t.family("l4lb_service_quorum", "gauge", "Healthy backends a service needs"),
        "failed_open": t.family(
            "l4lb_service_failed_open", "gauge", "1 while below quorum: every backend kept"
        ),
    }
    for s in samples:
        for svc in s.state.services:
            at = _labels(s.where("service"), s.at(str(svc.key)))
            values = {
                "backends": len(svc.backends),
                "backends_serving": sum(
                    1 for b in svc.backends if b.weight and not b.draining and not b.down
                ),
            }
            h = s.health.get(str(svc.key))
            if h is not None:
                values |= {
                    "backends_healthy": len(h.healthy),
                    "quorum": h.quorum,
                    "failed_open": int(h.failed_open),
                }
            for name, value in values.items():
                families[name].append(f"l4lb_service_{name}{at} {value}\n")
    _fingerprints(t, samples)


def _fingerprints(t: _Text, samples: Sequence[BalancerSample]) -> None:
    # An info-style gauge (always 1): the print is a label, so a query can
    # count distinct prints per service across nodes.
    prints = t.family(
        "l4lb_service_ring_fingerprint",
        "gauge",
        "1, labelled with the service's live ring fingerprint (equal on nodes that agree)",
    )
    for s in samples:
        for key, value in s.state.fingerprints.items():
            at = _labels(s.where("service", "fingerprint"), s.at(str(key), value))
            prints.append(f"l4lb_service_ring_fingerprint{at} 1\n")


def _data_plane(t: _Text, samples: Sequence[BalancerSample]) -> None:
    reasons = t.family(
        "l4lb_packets_total",
        "counter",
        "Packets not balanced, by verdict and reason (as l4lb stats counts them)",
    )
    flows = t.family(
        "l4lb_flow_table_packets_total",
        "counter",
        "Balanced packets by what the flow table said (hit, new, stale, stored, ...)",
    )
    entries = t.family(
        "l4lb_flow_table_entries",
        "gauge",
        "Flow-table slots that store a live flow, one within its lifetime (estimated "
        "from part of a large table); "
        'untracked flows: l4lb_flow_table_packets_total{outcome="untracked"}',
    )
    capacity = t.family("l4lb_flow_table_capacity", "gauge", "Flow-table slots (chosen at attach)")
    for s in samples:
        _table6(t, s)
        occ = s.counters.occupancy
        if occ is not None:
            at = _labels(s.where(), s.at())
            entries.append(f"l4lb_flow_table_entries{at} {occ.entries}\n")
            capacity.append(f"l4lb_flow_table_capacity{at} {occ.capacity}\n")
        for r in Reason:
            verdict = "drop" if r.is_drop else "pass" if r.is_pass else "icmp"
            at = _labels(
                s.where("verdict", "reason"), s.at(verdict, r.label.removeprefix(f"{verdict}_"))
            )
            reasons.append(f"l4lb_packets_total{at} {s.counters.reasons.get(r, (0, 0))[0]}\n")
        for f in FlowStat:
            at = _labels(s.where("outcome"), s.at(f.name.lower()))
            flows.append(f"l4lb_flow_table_packets_total{at} {s.counters.flows.get(f, 0)}\n")


def _table6(t: _Text, s: BalancerSample) -> None:
    """The IPv6 flow table's series: names of their own (IPv4's keep theirs)."""
    occ = s.counters.occupancy6
    if occ is None:
        return
    at = _labels(s.where(), s.at())
    t.family(
        "l4lb_flow_table6_entries", "gauge", "IPv6 flow-table slots that store a live flow"
    ).append(f"l4lb_flow_table6_entries{at} {occ.entries}\n")
    t.family(
        "l4lb_flow_table6_capacity", "gauge", "IPv6 flow-table slots (--flows6, chosen at attach)"
    ).append(f"l4lb_flow_table6_capacity{at} {occ.capacity}\n")
    flows = t.family(
        "l4lb_flow_table6_packets_total",
        "counter",
        "Balanced IPv6 packets by what the IPv6 flow table said (hit, new, stored, untracked, ...)",
    )
    for f in FlowStat:
        at = _labels(s.where("outcome"), s.at(f.name.lower()))
        flows.append(f"l4lb_flow_table6_packets_total{at} {s.counters.flows6.get(f, 0)}\n")


def _up(t: _Text, samples: Sequence[BalancerSample], unread: Sequence[tuple[str, str]]) -> None:
    up = t.family(
        "l4lb_balancer_up", "gauge", "1 if a configured balancer was read, 0 if it could not be"
    )
    read = [(s.state.ifname, s.netns) for s in samples]
    for value, places in ((1, read), (0, unread)):
        for ifname, netns in places:
            names = ("interface", "netns") if netns else ("interface",)
            at = _labels(names, (ifname, netns) if netns else (ifname,))
            up.append(f"l4lb_balancer_up{at} {value}\n")


def render(samples: Sequence[BalancerSample], unread: Sequence[tuple[str, str]] = ()) -> str:
    """The text of one scrape; `unread`: (interface, netns) of configured
    balancers that could not be read."""
    t = _Text()
    _up(t, samples, unread)
    _backends(t, samples)
    _services(t, samples)
    _data_plane(t, samples)
    return t.render()
