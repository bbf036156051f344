"""The interfaces screen's rows: one link's cells, and what the filter matches."""

from __future__ import annotations

from collections.abc import Collection

from rich.text import Text

from l4lb_tui.console_backend import LinkRow
from l4lb_tui.viewmodels.cells import Cell

XDP_LABELS = {"": "-", "driver": "driver", "generic": "generic", "offload": "offload"}


def link_cells(row: LinkRow) -> tuple[Cell, ...]:
    link = row.link
    state_style = {"UP": "green", "DOWN": "red"}.get(link.state, "yellow")
    return (
        link.ifname,
        Text(link.state, style=state_style),
        str(link.mtu),
        link.driver or "-",
        link.mac or "-",
        ", ".join(link.ipv4) or "-",
        XDP_LABELS.get(link.xdp_mode, link.xdp_mode),
        str(link.xdp_prog_id) if link.xdp_prog_id else "-",
        "yes" if link.can_offload else "no",
        Text("l4lb", style="bold cyan") if row.has_balancer else "-",
    )


def matches(row: LinkRow, text: str, shown: Collection[str] | None = None) -> bool:
    """Whether the filter `text` is in the link's name, driver, MAC, state,
    XDP mode or addresses: of those whose column is `shown` (None: all).
    At 80 columns `/7` listed links whose hidden MAC held a 7, with nothing
    on screen to say why."""
    link = row.link
    fields = {
        "ifname": link.ifname,
        "driver": link.driver,
        "mac": link.mac,
        "state": link.state,
        "xdp": link.xdp_mode,
        "ipv4": " ".join(link.ipv4),
    }
    hay = " ".join(v for k, v in fields.items() if shown is None or k in shown)
    return text.lower() in hay.lower()
