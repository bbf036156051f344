"""The daemon's health state as its readers see it: one small JSON file,
RUN_DIR/health.json, that the daemon rewrites (atomically: a rename) about
once a second and the console reads with each poll.

The daemon is the only writer; a file left by a daemon that is gone (killed,
crashed) is stale: its pid no longer runs, and readers say so rather than
show old verdicts as current.  Parsing and rendering are pure; `write` and
`read` are the file's two thin edges.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from l4lb_tui import procfs
from l4lb_tui.paths import RUN_DIR

STATUS_FILE = Path(os.environ.get("L4LB_HEALTH_STATUS", str(RUN_DIR / "health.json")))
VERSION = 1


@dataclass(frozen=True, slots=True)
class HealthEntry:
    """One backend's health as the daemon last counted it."""

    interface: str
    netns: str  # "" for the daemon's own namespace
    service: str  # the service as `str(ServiceKey)` writes it, e.g. 10.0.0.4:8080/tcp
    backend: str  # its IP
    status: str  # unknown, up, falling, down, rising (health.model.Status)
    result: str = ""  # the last probe's detail ("connected", "refused", "HTTP 503", ...)
    ok: bool = False  # whether the last probe passed
    latency_ms: float = 0.0
    since: float = 0.0  # wall-clock time the status last changed (0: never)


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    written: float  # time.time() of the write
    pid: int
    config: str  # the config file the daemon keeps applied
    entries: tuple[HealthEntry, ...] = ()
    stale: bool = field(default=False, compare=False)  # its daemon is gone

    def lookup(self, interface: str) -> dict[tuple[str, str], HealthEntry]:
        """This interface's entries by (service, backend)."""
        return {(e.service, e.backend): e for e in self.entries if e.interface == interface}


def render(status: DaemonStatus) -> str:
    body = {
        "version": VERSION,
        "written": status.written,
        "pid": status.pid,
        "config": status.config,
        "backends": [asdict(e) for e in status.entries],
    }
    return json.dumps(body, separators=(",", ":")) + "\n"


_ENTRY_FIELDS = frozenset(HealthEntry.__dataclass_fields__)


def parse(text: str) -> DaemonStatus | None:
    """The status a file holds, or None if it is not one (torn, foreign)."""
    try:
        body = json.loads(text)
        entries = tuple(
            HealthEntry(**{k: v for k, v in raw.items() if k in _ENTRY_FIELDS})
            for raw in body.get("backends", ())
        )
        return DaemonStatus(
            float(body["written"]), int(body["pid"]), str(body.get("config", "")), entries
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def write(status: DaemonStatus, path: Path | None = None) -> None:
    """Replace the file whole (a reader sees the old one or the new one);
    a status that cannot be written never stops the daemon."""
    target = path or STATUS_FILE
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(render(status))
        os.replace(tmp, target)


def remove(path: Path | None = None) -> None:
    with contextlib.suppress(OSError):
        (path or STATUS_FILE).unlink()


def read(
    path: Path | None = None, alive: Callable[[int], bool] = procfs.alive
) -> DaemonStatus | None:
    """The daemon's last status (marked stale if its daemon is gone), or
    None when no daemon has written one."""
    try:
        text = (path or STATUS_FILE).read_text()
    except OSError:
        return None
    status = parse(text)
    if status is None:
        return None
    return status if alive(status.pid) else replace(status, stale=True)


def entries_of(rows: Iterable[HealthEntry]) -> tuple[HealthEntry, ...]:
    """Entries in a stable order: by interface, service, backend."""
    return tuple(sorted(rows, key=lambda e: (e.netns, e.interface, e.service, e.backend)))
