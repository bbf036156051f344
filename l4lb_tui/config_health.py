"""A service's `health` table in a config: read, with every error at its key."""

from __future__ import annotations

from typing import Any, Protocol

from l4lb_tui import config_nodes
from l4lb_tui.abi import MAX_BACKENDS
from l4lb_tui.config_checks import health_key_problems
from l4lb_tui.config_model import CHECK_KINDS, ON_FAILURE, TARGETS, HealthSpec

KEYS = set(HealthSpec.__dataclass_fields__)


class Reader(config_nodes.Reader, Protocol):
    """What config_file's reader offers a table's parser, numbers too."""

    def number(self, t: dict[str, Any], path: str, key: str, low: float, high: float) -> Any: ...


def parse_health(r: Reader, value: object, path: str) -> HealthSpec | None:
    h = r.table(value, path, KEYS)
    check = r.text(h, path, "check")
    if check is None:
        kinds = " or ".join(f'"{k}"' for k in CHECK_KINDS)
        r.problem(f"{path}.check", f"a check needs check = {kinds}")
        return None
    if check not in CHECK_KINDS:
        r.problem(f"{path}.check", f"must be one of {', '.join(CHECK_KINDS)}, not {check!r}")
        return None
    on_failure = r.text(h, path, "on_failure", "drain")
    if on_failure not in ON_FAILURE:
        r.problem(f"{path}.on_failure", f"must be drain or remove, not {on_failure!r}")
    target = r.text(h, path, "target", "") or ""
    if target and target not in TARGETS:
        r.problem(
            f"{path}.target",
            f'must be "tunnel", "address" or "" (the tunnel where there is a probe source), '
            f"not {target!r}",
        )
    spec = HealthSpec(
        check=check,
        port=r.number(h, path, "port", 0, 65535),
        path=r.text(h, path, "path", "/") or "/",
        status=r.number(h, path, "status", 100, 599),
        body=r.text(h, path, "body", "") or "",
        send=r.text(h, path, "send", "ping") or "",
        expect=r.text(h, path, "expect", "") or "",
        interval=r.number(h, path, "interval", 0.1, 3600),
        timeout=r.number(h, path, "timeout", 0.01, 600),
        rise=r.number(h, path, "rise", 1, 100),
        fall=r.number(h, path, "fall", 1, 100),
        on_failure=on_failure or "drain",
        quorum=r.number(h, path, "quorum", 0, MAX_BACKENDS),
        target=target,
    )
    if spec.timeout > spec.interval:
        r.problem(f"{path}.timeout", "must not be longer than interval (probes would pile up)")
    if not isinstance(spec.rise, int) or not isinstance(spec.fall, int):
        r.problem(path, "rise and fall are whole numbers of probes")
    base = path.removesuffix(".health")
    for key, message in health_key_problems(check, set(h)):
        r.problem(f"{base}.{key}", message)
    return spec
