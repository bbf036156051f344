"""The nodes view's table."""

from __future__ import annotations

from l4lb_tui.widgets.tables import Column, KeyTable


class NodeTable(KeyTable):
    # At 80 columns everything shows; narrower gives up the session first.
    # Both widen from the room left for a node's IPv6 session and VIP
    # (`Established v4+v6`, `10.0.0.4, fd00::4` fit at 80 columns).
    COLUMNS = (
        Column("node", "Node", 10, style="bold"),
        Column("session", "BGP session", 12, drop=2, narrowest=8, wide=26),
        Column("announces", "Announces", 14, narrowest=8, wide=40),
        Column("prints", "Ring prints", 16, narrowest=8),
        Column("pps", "pkts/s", 8, right=True),
    )
