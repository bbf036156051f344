"""The nodes view on frozen nodes (screen logic only): opened with N, each
node's session, announcements, prints (a split brain marked) and pkts/s at
80x24, and d / u going to the nodes backend."""

from __future__ import annotations

import threading

from tui_support import DATA, manual

from l4lb_tui.app import ConsoleApp
from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.console_nodes import NodeSample
from l4lb_tui.screens.confirm import ConfirmScreen
from l4lb_tui.screens.nodes import NodesScreen
from l4lb_tui.textual_compat import notifications
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.node_table import NodeTable
from l4lb_tui.widgets.status import StatusLine

TCP, UDP = "10.0.0.4:80/tcp", "10.0.0.4:53/udp"


class FrozenNodes:
    def __init__(self) -> None:
        self.packets = 1000
        self.asked: list[str] = []

    def nodes(self) -> list[NodeSample]:
        self.packets += 500
        return [
            NodeSample("n1", ("10.0.0.4",), "Established", False,
                       ((TCP, "aaaa1111"), (UDP, "bbbb2222")), self.packets),
            NodeSample("n2", (), "Established", True,
                       ((TCP, "aaaa1111"), (UDP, "bbbb2222")), 7),
            NodeSample("n3", ("10.0.0.4",), "Active", False,
                       ((TCP, "cccc3333"), (UDP, "bbbb2222")), 9),
        ]  # fmt: skip

    def drain(self, name: str) -> str:
        self.asked.append(f"drain {name}")
        return f"{name}: drained: withdrew 10.0.0.4"

    def undrain(self, name: str) -> str:
        self.asked.append(f"undrain {name}")
        return f"{name}: undrained: announcing 10.0.0.4"


def plain(table: NodeTable, key: str) -> list[str]:
    return [c.plain if hasattr(c, "plain") else str(c) for c in table.get_row(key)]


async def _rows(app: ConsoleApp, pilot: object, count: int) -> NodeTable:
    for _ in range(100):
        await pilot.pause(0.02)  # type: ignore[attr-defined]
        if isinstance(app.screen, NodesScreen):
            table = app.screen.query_one(NodeTable)
            if table.row_count == count:
                return table
    raise AssertionError("the nodes view showed no nodes")


async def test_nodes_view_at_80x24_marks_a_split_brain(fake: FakeBackend) -> None:
    nodes = FrozenNodes()
    app = ConsoleApp(fake, None, manual(DATA), nodes=nodes)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("N")
        table = await _rows(app, pilot, 3)
        assert plain(table, "n1")[:3] == ["n1", "Established", "10.0.0.4"]
        assert plain(table, "n2")[2] == "drained"
        assert plain(table, "n3")[1] == "Active"
        assert "≠" in plain(table, "n3")[3] and "≠" not in plain(table, "n1")[3]
        assert len(table.columns) == 5  # everything fits 80 columns
        assert "n3" in " ".join(app.screen.query_one(StatusLine).messages)
        await pilot.press("r")  # a second poll: a rate from the difference
        for _ in range(100):
            await pilot.pause(0.02)
            if plain(table, "n1")[4] != "-":
                break
        assert plain(table, "n1")[4] not in ("-", "0")
        await pilot.press("d")
        for _ in range(100):
            await pilot.pause(0.02)
            if nodes.asked:
                break
        await pilot.press("j", "u")
        for _ in range(100):
            await pilot.pause(0.02)
            if len(nodes.asked) == 2:
                break
        assert nodes.asked == ["drain n1", "undrain n2"]
        await pilot.press("escape")
        assert not isinstance(app.screen, NodesScreen)


async def test_n_is_in_the_interfaces_footer_at_80_columns(fake: FakeBackend) -> None:
    """An operator finds the nodes view without the help: the interfaces'
    footer has room for it at 80 columns (the dashboard's does not, and
    its `… ? all keys` leads to the help, which lists N)."""
    app = ConsoleApp(fake, None, manual(DATA), nodes=FrozenNodes())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        footer = str(app.screen.query_one(KeyFooter).render())
        assert " N Nodes " in footer and " ? Help" in footer, footer


def test_prints_are_compared_within_a_group_only() -> None:
    """Two labs (or a lab and a config's nodes) on one host need not agree:
    three nodes of one and three of another, each agreeing within, were all
    marked as disagreeing (tester t16, F11)."""
    from l4lb_tui.viewmodels.node_rows import mismatched, node_rows

    def node(name: str, group: str, fp: str) -> NodeSample:
        return NodeSample(name, (), "Established", False, ((TCP, fp),), 1, group=group)

    a = [node(f"a-n{i}", "lab a", "aaaa1111") for i in (1, 2, 3)]
    b = [node(f"b-n{i}", "lab b", "bbbb2222") for i in (1, 2, 3)]
    assert mismatched([*a, *b]) == set()
    rows = dict(node_rows([*a, *b], {}))
    assert all("≠" not in str(getattr(cells[3], "plain", cells[3])) for cells in rows.values())
    odd = node("b-n4", "lab b", "cccc3333")
    assert mismatched([*a, *b, odd]) == {"b-n4"}


def test_ipv6_sessions_shown_beside_the_ipv4_ones() -> None:
    """A node with an IPv6 session: both states in the session column (red
    where one is down), its IPv6 VIP among what it announces."""
    from rich.text import Text

    from l4lb_tui.viewmodels.node_rows import node_rows

    def node(name: str, s4: str, s6: str) -> NodeSample:
        vips = ("10.0.0.4", "fd00::4")
        return NodeSample(name, vips, s4, False, ((TCP, "aaaa1111"),), 1, session6=s6)

    rows = dict(
        node_rows(
            [
                node("n1", "Established", "Established"),
                node("n2", "Established", "Active"),
                NodeSample("n3", ("10.0.0.4",), "Established", False, ((TCP, "aaaa1111"),), 1),
            ],
            {},
        )
    )
    assert rows["n1"][1] == "Established v4+v6" and rows["n1"][2] == "10.0.0.4, fd00::4"
    cell = rows["n2"][1]
    assert isinstance(cell, Text) and cell.plain == "v4 Established v6 Active"
    assert [cell.plain[sp.start : sp.end] for sp in cell.spans if sp.style == "red"] == [
        " v6 Active"
    ]
    assert rows["n3"][1] == "Established"  # no IPv6 session: as before


class DualStack(FrozenNodes):
    def nodes(self) -> list[NodeSample]:
        both = ("10.0.0.4", "fd00::4")
        return [
            NodeSample(f"n{i}", both, "Established", False, ((TCP, "aaaa1111"),), 1,
                       session6="Established")
            for i in (1, 2, 3)
        ]  # fmt: skip


async def test_ipv6_sessions_fit_80_columns(fake: FakeBackend) -> None:
    app = ConsoleApp(fake, None, manual(DATA), nodes=DualStack())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("N")
        table = await _rows(app, pilot, 3)
        for _ in range(100):  # the columns widen once the rows are in
            await pilot.pause(0.02)
            if dict(table.fitted).get(1) == len("Established v4+v6"):
                break
        assert len(table.columns) == 5
        shown = app.screen.query_one(NodeTable)
        lines = [str(line.text) for line in shown.render_lines(shown.region)][:5]
        row = next(line for line in lines if " n1 " in f" {line} ")
        assert "Established v4+v6" in row and "10.0.0.4, fd00::4" in row, lines


def test_node_status_marks_each_family_unheard() -> None:
    from l4lb_tui.daemon.announce_state import AnnounceStatus
    from l4lb_tui.daemon.node_cli import _announcing

    both = ["10.0.0.4", "fd00::4"]
    up = AnnounceStatus(1, both, False, "Established", session6="Established")
    assert _announcing(up) == "10.0.0.4, fd00::4"
    down6 = AnnounceStatus(1, both, False, "Established", session6="Active")
    assert _announcing(down6) == (
        "10.0.0.4, fd00::4 (configured; the router does not hear it: no session)"
    )
    assert _announcing(AnnounceStatus(1, [], False, "Active")) == "nothing"


class LastOne(FrozenNodes):
    """n1 alone announces the VIP: n2 is drained, n3's session is down."""

    def nodes(self) -> list[NodeSample]:
        return [
            NodeSample("n1", ("10.0.0.4",), "Established", False, ((TCP, "aaaa1111"),), 1),
            NodeSample("n2", (), "Established", True, ((TCP, "aaaa1111"),), 1),
            NodeSample("n3", (), "Active", False, ((TCP, "aaaa1111"),), 1),
        ]


async def test_draining_the_last_announcing_node_asks_first(fake: FakeBackend) -> None:
    """The VIP would leave the router altogether: the view asks (t16 F5)."""
    nodes = LastOne()
    app = ConsoleApp(fake, None, manual(DATA), nodes=nodes)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("N")
        await _rows(app, pilot, 3)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "only node announcing 10.0.0.4" in app.screen.question
        await pilot.press("n")
        await pilot.pause(0.1)
        assert nodes.asked == [] and isinstance(app.screen, NodesScreen)
        await pilot.press("d", "y")
        for _ in range(100):
            await pilot.pause(0.02)
            if nodes.asked:
                break
        assert nodes.asked == ["drain n1"]
        await pilot.press("j", "j", "d")  # n3 announces nothing: no question
        for _ in range(100):
            await pilot.pause(0.02)
            if len(nodes.asked) == 2:
                break
        assert nodes.asked == ["drain n1", "drain n3"]


class SlowNodes(FrozenNodes):
    """A drain that takes until it is let go."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()

    def drain(self, name: str) -> str:
        self.go.wait(10)
        return super().drain(name)


async def test_d_twice_runs_one_drain_and_a_drained_node_is_said(fake: FakeBackend) -> None:
    """t16 F15: d pressed twice ran two drains (two toasts, the second
    'withdrew nothing'); d on a drained node ran one more."""
    nodes = SlowNodes()
    app = ConsoleApp(fake, None, manual(DATA), nodes=nodes)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("N")
        await _rows(app, pilot, 3)
        await pilot.press("d")
        await pilot.pause(0.1)
        await pilot.press("d")
        await pilot.pause(0.1)
        said = [n.message for n in notifications(app)]
        assert "n1: draining already…" in said, said
        nodes.go.set()
        for _ in range(100):
            await pilot.pause(0.02)
            if nodes.asked:
                break
        await pilot.pause(0.2)
        assert nodes.asked == ["drain n1"]
        await pilot.press("j", "d")  # n2 is drained
        await pilot.pause(0.2)
        assert "n2: already drained" in [n.message for n in notifications(app)]
        assert nodes.asked == ["drain n1"]
