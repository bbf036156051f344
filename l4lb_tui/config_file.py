"""Config files (TOML): text in, a Config or every error with its line and
key out.  `parse_config` is pure (the destinations files a config names are
read through the function it is given); `read_config` reads the files.

The checks are the CLI's and `check`'s own (validation.py, services.py,
destinations.py): a config refuses what `map` and `backend` refuse.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from l4lb_tui import (
    config_bgp,
    config_checks,
    config_health,
    config_nodes,
    config_ssh,
    flowsize,
    validation,
)
from l4lb_tui.abi import CATCH_ALL
from l4lb_tui.config_checks import Own, health_problems, listen_problem
from l4lb_tui.config_lines import key_lines, line_of
from l4lb_tui.config_model import (
    NEIGHBOUR,
    BackendSpec,
    BalancerSpec,
    Config,
    HealthSpec,
    ServiceSpec,
)
from l4lb_tui.destinations import DestinationError, ParseResult, parse_text, read_text
from l4lb_tui.services import parse_service

MODES = ("driver", "generic", "offload")
FILLS = ("maglev", "roundrobin")
_TOP = {"balancer", "metrics", "bgp", "node", "ssh"}
_BALANCER = {
    "interface",
    "netns",
    "mode",
    "source",
    "source6",
    "service",
    "probe_source",
    "probe_source6",
    "flows",
    "flows6",
}
_SERVICE = {"vip", "fill", "ring_size", "destinations", "backends", "health"}
_BACKEND = {"ip", "mac", "weight", "drained"}
_METRICS = {"listen"}
CsvReader = Callable[[Path], ParseResult]


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.key}: {self.message}" if self.line else self.message


class ConfigError(Exception):
    """A config with errors: all of them, in file order; nothing is applied."""

    def __init__(self, path: Path | None, problems: Sequence[Problem]) -> None:
        self.path = path
        self.problems = sorted(problems, key=lambda p: p.line)
        where = f"{path}: " if path else ""
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{where}{self.problems[0]}{more}")

    def lines(self) -> list[str]:
        where = f"{self.path}: " if self.path else ""
        return [f"{where}{p}" for p in self.problems]


class _Reader:
    """Walks the parsed document, converting values and noting problems."""

    def __init__(self, text: str, base: Path, read_csv: CsvReader) -> None:
        self.lines = key_lines(text)
        self.base = base
        self.read_csv = read_csv
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str, line: int = 0) -> None:
        self.problems.append(Problem(line or line_of(self.lines, path), path, message))

    def table(self, value: object, path: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.problem(path, f"must be a table, not {type(value).__name__}")
            return {}
        for key in sorted(set(value) - allowed):
            near = ", ".join(sorted(allowed))
            where = f"{path}.{key}" if path else key
            self.problem(where, f"unknown key {key!r} (known here: {near})")
        return {k: v for k, v in value.items() if k in allowed}

    def text(
        self, t: dict[str, Any], path: str, key: str, default: str | None = None
    ) -> str | None:
        value = t.get(key, default)
        if value is not None and not isinstance(value, str):
            self.problem(f"{path}.{key}", f"must be a string, not {type(value).__name__}")
            return default
        return value

    def number(self, t: dict[str, Any], path: str, key: str, low: float, high: float) -> Any:
        value = t.get(key)
        field = HealthSpec.__dataclass_fields__.get(key)
        default = None if field is None else field.default
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(f"{path}.{key}", f"must be a number from {low} to {high}")
            return default
        if not low <= value <= high:
            self.problem(f"{path}.{key}", f"{value} is out of range {low}-{high}")
            return default
        return value

    def checked(self, path: str, parse: Callable[[str], Any], value: str) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            self.problem(path, str(exc))
            return None

    def optional(self, b: dict[str, Any], path: str, key: str, parse: Callable[[str], Any]) -> Any:
        """`b[key]` parsed, None when absent (or refused: a problem told)."""
        text = self.text(b, path, key)
        return None if text is None else self.checked(f"{path}.{key}", parse, text)


def _backends(r: _Reader, s: dict[str, Any], path: str) -> tuple[list[BackendSpec], list[str]]:
    """The service's backends, and where each was given (`backends[2]`, or
    `destinations` for a file's): a problem with one names its own item."""
    out: list[BackendSpec] = []
    where: list[str] = []
    items = s.get("backends", [])
    if not isinstance(items, list):
        r.problem(f"{path}.backends", "must be an array of {ip, mac, weight, drained} tables")
        items = []
    for i, item in enumerate(items):
        at = f"{path}.backends[{i}]"
        b = r.table(item, at, _BACKEND)
        for key, what in (("ip", '"10.0.0.11"'), ("mac", '"02:00:00:00:00:0b" or "neighbour"')):
            if key not in b and isinstance(item, dict):
                r.problem(at, f"a backend needs {key} = {what}")
        ip = "ip" in b and r.checked(f"{at}.ip", validation.backend_ip, r.text(b, at, "ip") or "")
        mac_text = r.text(b, at, "mac") or ""
        mac = (
            NEIGHBOUR
            if mac_text == NEIGHBOUR
            else "mac" in b and r.checked(f"{at}.mac", validation.config_mac, mac_text)
        )
        weight = b.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 65535:
            r.problem(f"{at}.weight", f"must be a whole number from 0 to 65535, not {weight!r}")
            weight = 1
        drained = b.get("drained", False)
        if not isinstance(drained, bool):
            r.problem(f"{at}.drained", "must be true or false")
            drained = False
        if ip and mac:
            out.append(BackendSpec(ip, mac, weight, drained))
            where.append(f"backends[{i}]")
    files = r.text(s, path, "destinations")
    if files is not None and not files.strip():
        r.problem(f"{path}.destinations", "must name a CSV file (relative to this config)")
    elif files is not None:
        read = _csv_backends(r, f"{path}.destinations", r.base / files)
        out += read
        where += ["destinations"] * len(read)
    return out, where


MAX_CSV_PROBLEMS = 20  # of one destinations file; then a count


def _csv_backends(r: _Reader, key: str, csv: Path) -> list[BackendSpec]:
    """A destinations file's backends; each of its errors a problem of its
    own, naming the file and its line."""
    try:
        result = r.read_csv(csv)
    except DestinationError as exc:
        r.problem(key, str(exc))
        return []
    for err in result.errors[:MAX_CSV_PROBLEMS]:
        r.problem(key, f"{csv}: {err}")
    if len(result.errors) > MAX_CSV_PROBLEMS:
        r.problem(key, f"{csv}: and {len(result.errors) - MAX_CSV_PROBLEMS} more errors")
    if not result.errors and not result.destinations:
        r.problem(key, f"{csv}: no destinations in file")
    return [BackendSpec(d.ip, d.mac, d.weight, d.drained) for d in result.destinations]


def read_csv_file(path: Path) -> ParseResult:
    return parse_text(read_text(path))


def _service(r: _Reader, value: object, path: str, own: Own) -> ServiceSpec | None:
    s = r.table(value, path, _SERVICE)
    spec = r.text(s, path, "vip")
    if spec is None:
        r.problem(path, 'a service needs vip = "ADDR[:PORT][/tcp|udp]"')
        return None
    keys = [CATCH_ALL] if spec.strip() == "*" else r.checked(f"{path}.vip", parse_service, spec)
    fill = r.text(s, path, "fill")
    if fill is not None and fill not in FILLS:
        r.problem(f"{path}.fill", f"must be maglev or roundrobin, not {fill!r}")
    ring = s.get("ring_size")
    if ring is not None and (isinstance(ring, bool) or not isinstance(ring, int)):
        r.problem(f"{path}.ring_size", "must be a whole number")
        ring = None
    if "backends" not in s and "destinations" not in s:
        r.problem(path, 'a service needs backends = [...] or destinations = "FILE" (or both)')
    known = len(r.problems)
    backends, where = _backends(r, s, path)
    unread = len(r.problems) > known  # a count of backends that is not the file's
    health = config_health.parse_health(r, s["health"], f"{path}.health") if "health" in s else None
    if not keys:
        return None
    service = ServiceSpec(
        spec, tuple(keys), tuple(backends), fill, ring, health, line_of(r.lines, path)
    )
    _check_service(r, service, path, unread, where)
    for b, at in zip(service.backends, where, strict=True):
        if b.ip in own:  # blamed on the backend, the edit, not on the source's line
            r.problem(f"{path}.{at}", own[b.ip])
    for key, message in health_problems(service, health) if health else ():
        r.problem(f"{path}.{key}", message)
    return service


def _check_service(r: _Reader, s: ServiceSpec, path: str, unread: bool, where: list[str]) -> None:
    seen: dict[str, str] = {}
    for b, at in zip(s.backends, where, strict=True):
        if b.ip in seen:
            key = f"{path}.{at}" if at != seen[b.ip] else f"{path}.backends"
            r.problem(key, f"{b.ip} is listed twice ({seen[b.ip]} and {at})")
        seen.setdefault(b.ip, at)
        if b.ip in {k.vip for k in s.keys}:
            r.problem(f"{path}.backends", f"{b.ip} is the service's own VIP, not a backend")
    family = validation.family_problem([k.vip for k in s.keys], [b.ip for b in s.backends])
    if family:
        r.problem(f"{path}.backends", family)
    serving = sum(1 for b in s.backends if b.weight and not b.drained)
    if s.ring_size is not None:
        # A missing fill is the running one's, which only apply sees; a new
        # service's Maglev asks for a prime, so that is checked here.
        problem = validation.ring_problem(s.ring_size, s.fill in (None, "maglev"), serving)
        if problem:
            r.problem(f"{path}.ring_size", problem)
    if s.health and s.health.quorum > len(s.backends) and not unread:
        r.problem(f"{path}.health.quorum", f"is more than the {len(s.backends)} backends")


def _balancer(r: _Reader, value: object, path: str) -> BalancerSpec | None:
    b = r.table(value, path, _BALANCER)
    name = r.checked(f"{path}.interface", validation.ifname, r.text(b, path, "interface") or "")
    netns_text = r.text(b, path, "netns")
    netns = (
        None
        if netns_text is None
        else r.checked(f"{path}.netns", validation.netns_name, netns_text)
    )
    mode = r.text(b, path, "mode", "driver")
    if mode not in MODES:
        r.problem(f"{path}.mode", f"must be one of {', '.join(MODES)}, not {mode!r}")
    source = r.optional(b, path, "source", validation.source_address)
    source6 = r.optional(b, path, "source6", validation.source6_address)
    probe = r.optional(b, path, "probe_source", validation.source_address)
    probe6 = r.optional(b, path, "probe_source6", validation.probe_source6_address)
    items = b.get("service", [])
    if not isinstance(items, list):
        r.problem(f"{path}.service", "write each service as [[balancer.service]]")
        items = []
    given = {"source": source, "source6": source6, "probe_source": probe, "probe_source6": probe6}
    at_lines = {k: (a, line_of(r.lines, f"{path}.{k}")) for k, a in given.items()}
    own = config_checks.own_addresses(at_lines)
    services = [
        s for i, v in enumerate(items) if (s := _service(r, v, f"{path}.service[{i}]", own))
    ]
    _check_balancer(r, services, path)
    for key, message in config_checks.source_problems(source, probe, services, probe6, source6):
        r.problem(f"{path}.{key}" if key else path, message)
    if not name:
        return None
    flows = _flows(r, b.get("flows"), f"{path}.flows")
    at = line_of(r.lines, path)
    flows6 = _flows(r, b.get("flows6"), f"{path}.flows6", v6=True)
    spec = (name, netns, mode or "driver", source, tuple(services), at, probe, flows, source6)
    return BalancerSpec(*spec, flows6=flows6, probe_source6=probe6)


def _flows(r: _Reader, value: object, path: str, v6: bool = False) -> int | None:
    """The flow table's size: a number (4194304) or a string ("4M");
    `v6`: the IPv6 table's, whose memory its errors quote."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        r.problem(path, f'must be a number or a string such as "4M", not {type(value).__name__}')
        return None
    parse = flowsize.parse_flows6 if v6 else flowsize.parse_flows
    parsed: int | None = r.checked(path, parse, str(value))
    return parsed


def _check_balancer(r: _Reader, services: list[ServiceSpec], path: str) -> None:
    where: dict[object, int] = {}
    for s in services:
        for k in s.keys:
            if k in where:
                again = f"{k} is named twice (lines {where[k]} and {s.line})"
                r.problem(f"{path}.service", again, line=s.line)
            where.setdefault(k, s.line)
    slots = sum(len(s.backends) * len(s.keys) for s in services)
    problem = validation.capacity_problem(slots, 1)
    if problem:
        r.problem(path, problem.replace("destinations", "backends in all its services"))


def parse_config(
    text: str,
    path: Path | None = None,
    read_csv: CsvReader | None = None,
    base: Path | None = None,
) -> Config:
    """The config `text` declares; ConfigError with every problem if any.
    Destinations files are found in `base` (default: the path's directory)."""
    text = text.removeprefix("\ufeff")  # a BOM some editors write: not content
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [Problem(0, "", f"not valid TOML: {exc}")]) from None
    except RecursionError:
        # tomllib recurses once per level of nesting: a hostile file must
        # be one line of error, not a traceback (nor a dead daemon).
        raise ConfigError(
            path, [Problem(0, "", "not a usable config: nested too deeply")]
        ) from None
    r = _Reader(text, base or (path.parent if path else Path(".")), read_csv or read_csv_file)
    top = r.table(doc, "", _TOP)
    items = top.get("balancer", [])
    if not isinstance(items, list) or not items:
        r.problem("balancer", "a config needs at least one [[balancer]] with its interface")
        items = []
    balancers = [b for i, v in enumerate(items) if (b := _balancer(r, v, f"balancer[{i}]"))]
    seen: dict[tuple[str | None, str], int] = {}
    for b in balancers:
        place = (b.netns, b.interface)
        if place in seen:
            r.problem(
                "balancer", f"{b.interface} is configured twice (lines {seen[place]} and {b.line})"
            )
        seen.setdefault(place, b.line)
    metrics = r.table(top.get("metrics", {}), "metrics", _METRICS)
    listen = r.text(metrics, "metrics", "listen", "127.0.0.1:9440")
    if listen is not None and (problem := listen_problem(listen)):
        r.problem("metrics.listen", problem)
    bgp = None
    if "bgp" in top:
        vips = {k.vip for b in balancers for s in b.services for k in s.keys}
        bgp, said = config_bgp.parse_bgp(r.table(top["bgp"], "bgp", config_bgp.KEYS), vips)
        for key, message in said:
            r.problem(key, message)
    nodes = config_nodes.parse_nodes(r, top.get("node"), balancers)
    ssh, said = config_ssh.parse_ssh(r.table(top.get("ssh", {}), "ssh", config_ssh.KEYS))
    for key, message in said:
        r.problem(key, message)
    if r.problems:
        raise ConfigError(path, r.problems)
    return Config(tuple(balancers), listen or "", path, bgp=bgp, nodes=nodes, ssh=ssh)


def read_config(path: Path) -> Config:
    """Read and parse a config file (and the destinations files it names)."""
    try:
        text = read_text(path)
    except DestinationError as exc:
        raise ConfigError(None, [Problem(0, "", str(exc))]) from None
    # Beside the file itself: a config reached through a symbolic link names
    # the files that sit with it, not with the link.
    return parse_config(text, path, base=Path(os.path.realpath(path)).parent)
