"""A Config written back as the TOML it was read from (pure): what `apply`
and `diff` send to a node on another host, so that it applies exactly what
this host read (destinations files already read into backends: the remote
reads no file of ours).  `parse_config(render(c))` is `c`, but for line
numbers and the path."""

from __future__ import annotations

import json

from l4lb_tui.config_model import BackendSpec, BalancerSpec, Config, HealthSpec, ServiceSpec

Value = str | int | float | bool


def toml_str(text: str) -> str:
    """`text` as a TOML basic string: JSON's escapes are TOML's, but for
    DEL, which TOML wants escaped too."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(v: Value) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return toml_str(v)
    return repr(v)  # an int, or a finite float: repr is a TOML float


def _pairs(items: list[tuple[str, Value | None]]) -> list[str]:
    return [f"{key} = {_value(v)}" for key, v in items if v is not None]


def _backend(b: BackendSpec) -> str:
    fields: list[tuple[str, Value]] = [
        ("ip", b.ip),
        ("mac", b.mac),
        ("weight", b.weight),
        ("drained", b.drained),
    ]
    return "  { " + ", ".join(f"{k} = {_value(v)}" for k, v in fields) + " },"


def _health(h: HealthSpec) -> list[str]:
    kind: list[tuple[str, Value | None]] = []
    if h.check == "http":  # each kind's own keys: check refuses the others'
        kind = [("path", h.path), ("status", h.status), ("body", h.body)]
    elif h.check == "udp":
        kind = [("send", h.send), ("expect", h.expect)]
    common: list[tuple[str, Value | None]] = [
        ("check", h.check),
        ("port", h.port),
        ("interval", h.interval),
        ("timeout", h.timeout),
        ("rise", h.rise),
        ("fall", h.fall),
        ("on_failure", h.on_failure),
        ("quorum", h.quorum),
        ("target", h.target or None),
    ]
    return ["[balancer.service.health]", *_pairs(common + kind)]


def _service(s: ServiceSpec) -> list[str]:
    out = ["[[balancer.service]]", *_pairs([("vip", s.spec), ("fill", s.fill)])]
    out += _pairs([("ring_size", s.ring_size)])
    out += ["backends = [", *(_backend(b) for b in s.backends), "]"]
    if s.health is not None:
        out += _health(s.health)
    return out


def _balancer(b: BalancerSpec) -> list[str]:
    out = ["[[balancer]]"]
    out += _pairs(
        [
            ("interface", b.interface),
            ("netns", b.netns),
            ("mode", b.mode),
            ("source", b.source),
            ("source6", b.source6),
            ("probe_source", b.probe_source),
            ("probe_source6", b.probe_source6),
            ("flows", b.flows),
        ]
    )
    for s in b.services:
        out += ["", *_service(s)]
    return out


def render(config: Config) -> str:
    """`config`'s balancers and metrics as a config file.  Its [[node]]s,
    [ssh] and [bgp] are left out: they say where to apply and what a daemon
    announces, not what a node's balancers run."""
    out: list[str] = []
    for b in config.balancers:
        out += [*_balancer(b), ""]
    if config.metrics_listen:
        out += ["[metrics]", f"listen = {toml_str(config.metrics_listen)}"]
    return "\n".join(out) + "\n"
