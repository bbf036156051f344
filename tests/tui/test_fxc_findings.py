"""The tester's round-3 findings on the console (t14-r3), on frozen data."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import DataTable, Input, Static
from tui_support import dashboard, make_app, manual, settle

from l4lb_bench.synthetic import synthetic
from l4lb_tui import abi
from l4lb_tui.app import ConsoleApp
from l4lb_tui.console_daemon import DaemonView, Drift
from l4lb_tui.console_demo import DEMO_SERVICE, FakeBackend, demo_backends, demo_links
from l4lb_tui.events import Event
from l4lb_tui.screens.events import EventLogScreen, EventTable
from l4lb_tui.screens.load import LoadScreen, PreviewTable
from l4lb_tui.screens.mode import ModeScreen
from l4lb_tui.textual_compat import notifications
from l4lb_tui.viewmodels.health_rows import daemon_line
from l4lb_tui.widgets.filter import FilterBox
from l4lb_tui.widgets.header import DashboardHeader
from l4lb_tui.widgets.tables import BackendTable, LinkTable


def plain(value: object) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def take_down(fake: FakeBackend, n: int) -> str:
    """The health checker's verdict on the demo's backend `n`, as the kernel keeps it."""
    lb = fake._lbs["lb0"]
    members = lb.services[DEMO_SERVICE]
    members[n] = replace(members[n], down=True)
    listed = list(lb.lists[DEMO_SERVICE])
    listed[n] = replace(listed[n], down=True)
    lb.lists[DEMO_SERVICE] = tuple(listed)
    return members[n].ip


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_a_backend_the_checker_took_out_reads_down_on_narrow_terminals(
    fake: FakeBackend, size: tuple[int, int]
) -> None:
    """At 80 and 100 columns the Health column is given up, and a backend
    out of rotation read exactly like a healthy one."""
    ip = take_down(fake, 2)
    app = make_app(fake)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        table = dashboard(pilot).query_one(BackendTable)
        assert "health" not in table.shown_columns
        weights = {}
        for n in range(table.row_count):
            row = table.get_row_at(n)
            weights[plain(row[table.shown_columns.index("ip")])] = plain(
                row[table.shown_columns.index("weight")]
            )
        assert weights[ip].endswith("down"), weights
        assert sum("down" in w for w in weights.values()) == 1, weights


@pytest.mark.parametrize("count", [31, 150])
async def test_many_services_leave_the_table_ten_rows_at_80x24(count: int) -> None:
    """30 services took 11 header lines (7 rows left), 150 took them all."""
    fake = FakeBackend.demo()
    keys = [abi.ServiceKey("10.99.9.5", 8001 + n, abi.PROTO_TCP) for n in range(count)]
    fake.load("lb0", keys, demo_backends(2))
    app = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = dashboard(pilot)
        table = screen.query_one(BackendTable)
        rows = table.scrollable_content_region.height - table.header_height
        assert rows >= 10, rows
        top = plain(screen.query_one(DashboardHeader).render()).splitlines()[0]
        assert "more" in top and "(v: one at a time)" in top, top


@pytest.mark.parametrize("interface", [None, "lb0"])
async def test_a_closed_filter_never_takes_keys_and_one_in_force_shows(
    fake: FakeBackend, interface: str | None
) -> None:
    """Keys typed while a screen started went into its hidden filter: a
    screen focuses its first focusable widget as it starts, and that was
    the closed filter box.  Rows were silently missing."""
    app = make_app(fake, interface=interface)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        box = app.screen.query_one(FilterBox)
        assert not box.focusable  # so a starting screen's auto-focus passes it by
        app.screen.set_focus(None)
        app.screen.focus_next()
        assert app.focused is not box
        box.value = "e"
        await settle(pilot)
        assert box.is_open and box.display  # a filter in force is seen
        await pilot.press("escape")
        await settle(pilot)
        assert box.value == "" and not box.is_open
        assert app.screen is not None and app.screen.query(FilterBox)  # Esc cleared, not left
        await pilot.press("slash", "x")
        assert box.value == "x" and app.focused is box  # `/` still opens it


async def test_removing_a_big_service_removes_its_rows_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 4,000-backend service removed froze the console ~35 s: the table
    removed its rows one by one, and DataTable renumbers every remaining row
    for each one removed."""
    fake = FakeBackend.demo()
    big = abi.ServiceKey("10.99.9.4", 80, abi.PROTO_TCP)
    fake.load("lb0", [big], synthetic(4000))
    one_by_one: list[object] = []
    monkeypatch.setattr(DataTable, "remove_row", lambda self, key: one_by_one.append(key))
    app = make_app(fake)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        screen = dashboard(pilot)
        table = screen.query_one(BackendTable)
        assert table.row_count == 4008
        await pilot.press("G")  # the cursor at the bottom, among the big service's rows
        lb = fake._lbs["lb0"]  # what `l4lb service del` leaves the kernel with
        del lb.services[big], lb.lists[big]
        screen.poll_now()
        await settle(pilot)
        assert one_by_one == []
        assert table.row_count == 8
        ips = [plain(table.get_row_at(n)[table.shown_columns.index("ip")]) for n in range(8)]
        assert sorted(ips) == sorted(d.ip for d in demo_backends(8))
        assert 0 <= table.cursor_row < 8
        assert table.current_key is not None


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], capture_output=True, text=True, check=check)  # noqa: S603


@pytest.fixture
def fxc_netns() -> Iterator[str]:
    """A namespace of this test's own, with a veth pair (fxc-…a, fxc-…b)."""
    name = f"fxc-{uuid.uuid4().hex[:6]}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "add", f"{name}a", "type", "veth", "peer", "name", f"{name}b")
        yield name
    finally:
        _ip("netns", "del", name, check=False)


@pytest.mark.parametrize("command", ["l4lb-tui", "l4lb tui"])
def test_a_missing_interface_is_refused_in_one_line(fxc_netns: str, command: str) -> None:
    """`tui -i nosuch0` opened a dashboard stuck on `reading…` forever, said
    "no daemon", offered a mode menu, and exited 0 on q."""
    where = ["--netns", fxc_netns]
    argv = (
        ["-m", "l4lb_tui.app", *where, "-i", "nosuch0"]
        if command == "l4lb-tui"
        else ["-m", "l4lb_tui.cli", *where, "tui", "-i", "nosuch0"]
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert f"interface nosuch0 does not exist in network namespace {fxc_netns}" in lines[0]
    assert "\x1b" not in done.stdout  # the terminal was never taken


async def test_a_bad_time_or_escapes_in_the_event_log_never_reach_the_terminal(
    tmp_path: Path,
) -> None:
    """`"at": -1e20` (or 1e400, read as inf) crashed every console that
    opened `E`; an ESC in What cleared the operator's screen."""
    log = tmp_path / "events.jsonl"
    lines = [
        {"at": -1e20, "who": "cli", "what": "far past"},
        {"at": 1e400, "who": "cli", "what": "far future"},
        {"at": 1700000000.0, "who": "cli\x1b[31m", "what": "evil \x1b[2J\x1b[31m red"},
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    fake = FakeBackend.demo()
    fake.events_path = log
    app = make_app(fake)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        await pilot.press("E")
        await settle(pilot)
        assert isinstance(app.screen, EventLogScreen)
        table = app.screen.query_one(EventTable)
        rows = [[plain(c) for c in table.get_row_at(n)] for n in range(table.row_count)]
        assert len(rows) == 3, rows
        shown = " ".join(" ".join(r) for r in rows)
        assert "\x1b" not in shown
        assert "evil \\x1b[2J\\x1b[31m red" in shown and "cli\\x1b[31m" in shown
        assert sorted(r[0] for r in rows if "far" in r[-1]) == ["?", "?"]


async def test_a_link_name_with_escapes_is_shown_escaped() -> None:
    name = "fx\x1b[2J\x1b[7m"
    fake = FakeBackend(links=[*demo_links(), replace(demo_links()[3], ifname=name, ifindex=9)])
    app = make_app(fake, interface=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(LinkTable)
        names = [plain(table.get_row_at(n)[0]) for n in range(table.row_count)]
        assert "fx\\x1b[2J\\x1b[7m" in names, names
        assert not any("\x1b" in n for n in names)
        # Its dashboard's header too.
        app.screen.action_open_link(name)
        await settle(pilot)
        top = plain(dashboard(pilot).query_one(DashboardHeader).render())
        assert "fx\\x1b[2J" in top and "\x1b" not in top


async def test_x_on_a_backend_the_checker_took_out_says_the_truth(fake: FakeBackend) -> None:
    """Undraining it said "it takes new flows again" while the checker kept
    it out of rotation."""
    ip = take_down(fake, 2)
    app = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = dashboard(pilot)
        table = screen.query_one(BackendTable)
        ips = [plain(table.get_row_at(n)[table.shown_columns.index("ip")]) for n in range(8)]
        table.move_cursor(row=ips.index(ip))
        said: list[str] = []
        for _ in range(2):  # drain, then undrain
            await pilot.press("x")
            await settle(pilot)
            said.append(notifications(app)[-1].message)
        assert said[0].startswith(f"drain {ip}"), said
        assert "down (health check) too" in said[0], said
        assert said[1].startswith(f"undrain {ip}"), said
        assert "takes new flows again" not in said[1], said
        assert "down (health check): it gets new flows once it passes again" in said[1], said


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_the_event_log_never_cuts_a_pid_nor_hides_the_service(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    """`health root pid 17811` showed as `health root pid 17`; at 80 columns
    two services' entries read the same, and What was cut with no way to
    read the rest."""
    log = tmp_path / "events.jsonl"
    svc = ("10.0.0.4:8080/tcp", "10.0.0.4:9000/udp")
    found = [
        Event(1.7e9 + n, "health", "10.0.0.12: down (refused, 0 ms)", "lb0", s, "10.0.0.12",
              pid=4194304, user="root")
        for n, s in enumerate(svc)
    ]  # fmt: skip
    long = "edit 10.0.0.11 of 10.0.0.4:8080/tcp: weight 1 → 3, MAC 02:00:00:00:00:01 → 02:00:00:00:00:02"
    found.append(Event(1.7e9 + 5, "cli", long, "lb0", svc[0], "10.0.0.11", pid=99, user="ann"))
    log.write_text("".join(e.line() for e in found))
    fake = FakeBackend.demo()
    fake.events_path = log
    app = make_app(fake)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("E")
        await settle(pilot)
        await pilot.pause()
        table = app.screen.query_one(EventTable)
        cols = table.shown_columns
        width = dict(table.fitted)[EventTable.COLUMNS.index(
            next(c for c in EventTable.COLUMNS if c.key == "who"))]  # fmt: skip
        rows = [[plain(c) for c in table.get_row_at(n)] for n in range(table.row_count)]
        who = [r[cols.index("who")] for r in rows]
        assert who[1] == "health pid 4194304" and len(who[1]) <= width, (who, width)
        assert who[0] == "cli ann pid 99"
        assert ("target" not in cols) == (size[0] == 80), cols
        if "target" not in cols:
            whats = {r[cols.index("what")] for r in rows[1:]}
            assert whats == {f"{s}: 10.0.0.12: down (refused, 0 ms)" for s in svc}, whats
        await pilot.press("g", "enter")  # the newest: the long one
        await pilot.pause()
        said = notifications(app)[-1].message
        assert long in said and "pid 99" in said, said


def test_the_drift_count_is_what_l4lb_diff_lists() -> None:
    """Two backends changed in one service read "DRIFT: 1 change"."""
    lines = (
        "  switch from driver to generic mode",
        "  ~ service 10.0.0.4:8080/tcp:",
        "      ~ 10.0.0.11 undrained",
        "      ~ 10.0.0.14 weight 4 -> 1",
        "  ~ service 10.0.0.4:9000/udp:",
        "      ~ 10.0.0.12 undrained",
    )
    note = "  10.0.0.4:9000/udp: ! 10.0.0.13: no answer to ARP on the interface; kept its MAC"
    for shown in (lines, (*lines, note)):  # a note is not a change
        line = daemon_line(DaemonView(7, "/c.toml", False, {}, Drift(shown))).plain
        assert line.startswith("DRIFT: 4 changes from the config"), line


def test_the_console_refuses_a_stdin_that_is_not_a_terminal(fxc_netns: str) -> None:
    """`echo | l4lb tui -i DEV` drew the dashboard and ignored every key."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "--netns", fxc_netns, "tui", "-i", f"{fxc_netns}a"],
        capture_output=True,
        text=True,
        input="q\n",
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, (done.stdout[-300:], done.stderr)
    assert done.stderr.splitlines() == ["l4lb: error: the console needs a terminal on stdin"]


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_the_load_preview_marks_drained_lines(
    tmp_path: Path, fake: FakeBackend, size: tuple[int, int]
) -> None:
    """A saved file's drained line previewed like a serving one, and loaded drained."""
    csv = tmp_path / "saved.csv"
    csv.write_text("10.0.2.1, 02:00:00:00:02:01, 3\n10.0.2.2, 02:00:00:00:02:02, 7, drained\n")
    app = make_app(fake, start_dir=tmp_path)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LoadScreen)
        screen.query_one("#path", Input).value = str(csv)
        await pilot.press("enter")
        await settle(pilot)
        table = screen.query_one(PreviewTable)
        weights = [plain(table.get_row_at(n)[-1]).strip() for n in range(table.row_count)]
        assert weights == ["3", "7 drain"], weights
        summary = plain(screen.query_one("#summary", Static).render())
        assert "1 drained" in summary, summary


async def test_a_writing_key_in_a_read_only_console_says_why(fake: FakeBackend) -> None:
    """`--readonly`: e, x and d did nothing, silently."""
    fake.readonly = True
    app = ConsoleApp(fake, "lb0", replace(manual(), readonly=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key in ("e", "x", "d"):
            before = len(notifications(app))
            await pilot.press(key)
            await settle(pilot)
            said = [n.message for n in notifications(app)[before:]]
            assert said == ["read-only console (--readonly): it changes nothing"], (key, said)
        await pilot.press("slash", "e")  # a letter typed into the filter is a letter
        assert app.screen.query_one(FilterBox).value == "e"
        assert fake.writes == []


async def test_the_interfaces_filter_matches_what_is_shown() -> None:
    """At 80 columns `/7` listed links whose hidden MAC held a 7."""
    links = [
        *demo_links()[:2],
        replace(demo_links()[2], ifname="fxlong7", ifindex=7),
        replace(demo_links()[2], ifname="fxp26", ifindex=8, mac="02:00:00:00:07:26"),
    ]
    for size, expected in (((80, 24), ["fxlong7"]), ((200, 50), ["lo", "fxlong7", "fxp26"])):
        app = make_app(FakeBackend(links=links), interface=None)
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("slash", "7")
            await settle(pilot)
            table = app.screen.query_one(LinkTable)
            assert ("mac" in table.shown_columns) == (size[0] == 200)
            names = [plain(table.get_row_at(n)[0]) for n in range(table.row_count)]
            assert names == expected, (size, names)


async def test_q_quits_from_the_mode_menu(fake: FakeBackend) -> None:
    """`q` is documented everywhere, and did nothing in the mode menu."""
    app = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ModeScreen)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
