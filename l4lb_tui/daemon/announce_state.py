"""What the daemon announces over BGP, and why (pure), and the file that
tells `l4lb node drain` and `undrain` where it stands.

A VIP is announced while every service this host configures on it is
healthy here: its balancer attached, and, where it has a health check, at
least its quorum of backends healthy (the same rule for both families; an
IPv6 VIP only where [bgp] has an IPv6 session).  One VIP is one /32 (/128) to the router,
which sends it every port: a node that cannot serve one of them leaves the
VIP to the nodes that can.  An operator's drain (a file in RUN_DIR, so it
outlives a restart) withdraws everything.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from l4lb_tui.config_model import Config
from l4lb_tui.metrics import ServiceHealth
from l4lb_tui.paths import RUN_DIR

DRAIN_FILE = RUN_DIR / "node-drained"
STATUS_FILE = RUN_DIR / "announce.json"

Where = tuple[str, str | None]  # a balancer: (interface, netns)


def wanted(
    config: Config,
    attached: Mapping[Where, bool],
    health: Mapping[Where, Mapping[str, ServiceHealth]],
    drained: bool,
    ipv6: bool = False,
) -> frozenset[str]:
    """The VIPs to announce now; IPv6 ones only with `ipv6` (a session for them)."""
    if drained:
        return frozenset()
    ok: dict[str, bool] = {}
    for b in config.balancers:
        where = (b.interface, b.netns)
        for s in b.services:
            for key in s.keys:
                good = attached.get(where, False)
                if good and s.health is not None:
                    h = health.get(where, {}).get(str(key))
                    good = h is not None and len(h.healthy) >= max(1, h.quorum)
                ok[key.vip] = ok.get(key.vip, True) and good
    # Without an IPv6 session an IPv6 VIP is left out, never allowed to
    # fail the IPv4 ones' announcement.
    return frozenset(vip for vip, good in ok.items() if good and (ipv6 or ":" not in vip))


@dataclass(frozen=True, slots=True)
class AnnounceStatus:
    pid: int
    announced: list[str]
    drained: bool
    session: str  # the BGP session's state, as BIRD says it
    # While drained: True once this host's balancers stopped receiving
    # packets (the router moved its traffic), False until then.
    moved: bool = False
    quiet_after: float = 0.0  # seconds from the withdrawal to the last packet
    notes: list[str] = field(default_factory=list)
    session6: str = ""  # the IPv6 session's state ("": [bgp] has none)


def write(status: AnnounceStatus, path: Path | None = None) -> None:
    target = path or STATUS_FILE
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(asdict(status)) + "\n")
        os.replace(tmp, target)


def read(path: Path | None = None) -> AnnounceStatus | None:
    try:
        fields = json.loads((path or STATUS_FILE).read_text())
        return AnnounceStatus(**fields)
    except (OSError, ValueError, TypeError):
        return None


def remove(path: Path | None = None) -> None:
    with contextlib.suppress(OSError):
        (path or STATUS_FILE).unlink()
