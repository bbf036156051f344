"""The nodes view's table."""

from __future__ import annotations

from l4lb_tui.widgets.tables import Column, KeyTable


class NodeTable(KeyTable):
    # At 80 columns everything shows; narrower gives up the session first.
    COLUMNS = (
        Column("node", "Node", 10, style="bold"),
        Column("session", "BGP session", 12, drop=2, narrowest=8),
        Column("announces", "Announces", 14, narrowest=8),
        Column("prints", "Ring prints", 16, narrowest=8),
        Column("pps", "pkts/s", 8, right=True),
    )
