"""A real network in a box: client, XDP balancer and DSR backends in namespaces.

Public API::

    lab = Lab(prefix="l4lb", backends=3)
    lab.up(); lab.status(); lab.traffic(); lab.flood(5.0); lab.down()
    register(subparsers); run(args)   # the `l4lb lab` subcommand

Names are loaded on first use: `servers` and `traffic` also run as
`python -m` inside namespaces, and importing them here first would make
runpy warn and load pyroute2 where it is not needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from l4lb_tui.lab.cli import register, run
    from l4lb_tui.lab.errors import LabError
    from l4lb_tui.lab.flood import FloodReport
    from l4lb_tui.lab.lab import Lab
    from l4lb_tui.lab.names import CLIENT_ADDR, HTTP_PORT, OUTER_SADDR, UDP_PORT, VIP, Node
    from l4lb_tui.lab.status import LabStatus
    from l4lb_tui.lab.traffic import TrafficReport

_HOMES = {
    "register": "cli",
    "run": "cli",
    "LabError": "errors",
    "FloodReport": "flood",
    "Lab": "lab",
    "CLIENT_ADDR": "names",
    "HTTP_PORT": "names",
    "OUTER_SADDR": "names",
    "UDP_PORT": "names",
    "VIP": "names",
    "Node": "names",
    "LabStatus": "status",
    "TrafficReport": "traffic",
}

__all__ = [
    "CLIENT_ADDR",
    "HTTP_PORT",
    "OUTER_SADDR",
    "UDP_PORT",
    "VIP",
    "FloodReport",
    "Lab",
    "LabError",
    "LabStatus",
    "Node",
    "TrafficReport",
    "register",
    "run",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
