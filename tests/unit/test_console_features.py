"""The pure parts of the console's operator features: the sort, the health
status file and its reader, the health cell and the daemon's line, the
event log's rows, a backend's long history and the changes it saw, its
share of the ring, and saving a config over nothing but a regular file."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from l4lb_tui import abi, events, health_status
from l4lb_tui.config_file import parse_config
from l4lb_tui.console_backend import ConsoleError
from l4lb_tui.console_config import save_config
from l4lb_tui.console_daemon import DaemonView, Drift, spec_for
from l4lb_tui.health_status import DaemonStatus, HealthEntry
from l4lb_tui.model import Backend, Service, State
from l4lb_tui.rates import Rate
from l4lb_tui.stats import BackendRow, StatsView
from l4lb_tui.viewmodels.detail import ChangeLog, LongHistory, ring_share
from l4lb_tui.viewmodels.event_rows import event_rows
from l4lb_tui.viewmodels.health_rows import NONE, daemon_line, health_cell, health_of
from l4lb_tui.viewmodels.sorting import SortOrder, ordered, sort_values

SVC = "10.0.0.4:8080/tcp"


def row(n: int, ip: str, pps: float, weight: int = 1, draining: bool = False) -> BackendRow:
    return BackendRow(n, n, SVC, ip, "02:00:00:00:00:01", weight, draining, 0, 0, Rate(pps, pps))


def view(*rows: BackendRow) -> StatsView:
    total = Rate(sum(r.rate.pps for r in rows), sum(r.rate.bps for r in rows))
    return StatsView("lb0", "driver", 1, (SVC,), tuple(rows), total, {}, {}, {}, {}, False)


# -- sort ---------------------------------------------------------------------


def test_default_sort_is_pkts_per_second_busiest_first_ties_in_view_order() -> None:
    rows = [row(1, "10.0.1.9", 5), row(2, "10.0.1.10", 50), row(3, "10.0.1.2", 5)]
    values = [sort_values(r, "") for r in rows]
    assert SortOrder() == SortOrder("pps", True)
    assert ordered(values, SortOrder()) == [1, 0, 2]  # 50, then the two 5s in order
    assert ordered(values, SortOrder().flipped()) == [0, 2, 1]
    # Addresses sort as numbers, not text: 10.0.1.2 < 10.0.1.9 < 10.0.1.10.
    assert ordered(values, SortOrder("ip", False)) == [2, 0, 1]


def test_sort_steps_through_columns_each_in_its_own_direction() -> None:
    order = SortOrder()
    assert order.step(1) == SortOrder("bps", True)
    assert order.step(-1) == SortOrder("weight", True)
    assert SortOrder("num", False).step(-1) == SortOrder("pkts", True)  # wraps
    assert SortOrder("pkts", True).step(1) == SortOrder("num", False)
    assert SortOrder("spark", True).step(1) == SortOrder("pkts", True)
    assert SortOrder("share", True).step(1) == SortOrder("health", False)
    assert order.on("pps") == SortOrder("pps", False)  # the same column again: turned over
    assert order.on("ip") == SortOrder("ip", False)
    assert order.label("pps", "pkts/s") == "pkts/s ▼"
    assert order.flipped().label("pps", "pkts/s") == "pkts/s ▲"
    assert order.label("ip", "IP") == "IP"


def test_health_sorts_worst_first() -> None:
    rows = [row(1, "10.0.1.1", 1), row(2, "10.0.1.2", 1), row(3, "10.0.1.3", 1)]
    health = ["up", "down", "rising"]
    values = [sort_values(r, h) for r, h in zip(rows, health, strict=True)]
    assert ordered(values, SortOrder("health", False)) == [1, 2, 0]


# -- the daemon's status file ---------------------------------------------------------


def entry(ip: str, status: str = "up", **kw: object) -> HealthEntry:
    base: dict[str, object] = {"result": "connected", "ok": True, "latency_ms": 0.42}
    base.update(kw)
    return HealthEntry("lb0", "", SVC, ip, status, **base)  # type: ignore[arg-type]


def test_status_file_round_trips_and_is_stale_once_its_daemon_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    status = DaemonStatus(1700000000.5, 4242, "/etc/l4lb/l4lb.toml", (entry("10.0.1.1"),))
    assert health_status.read(path) is None  # no daemon has written one
    health_status.write(status, path)
    assert [p.name for p in tmp_path.iterdir()] == ["health.json"]  # no temp file left
    body = json.loads(path.read_text())
    assert body["pid"] == 4242 and body["backends"][0]["backend"] == "10.0.1.1"
    read = health_status.read(path, alive=lambda pid: pid == 4242)
    assert read == status and read is not None and not read.stale
    gone = health_status.read(path, alive=lambda pid: False)
    assert gone is not None and gone.stale
    path.write_text('{"written": 1, "pid": ')  # torn, or not ours: no status
    assert health_status.read(path) is None
    # A field a newer daemon adds is passed over.
    body["backends"][0]["newer"] = 1
    path.write_text(json.dumps(body))
    assert health_status.read(path, alive=lambda pid: True) == status


def test_health_cell_says_status_latency_and_result() -> None:
    daemon = DaemonView.of(
        DaemonStatus(
            1.0,
            1,
            "/c.toml",
            (entry("10.0.1.1"), entry("10.0.1.2", "down", ok=False, result="refused")),
        ),
        "lb0",
        Drift(),
    )
    up = health_cell(health_of(daemon, SVC, "10.0.1.1"))
    down = health_cell(health_of(daemon, SVC, "10.0.1.2"))
    assert str(up) == "up 0.4 ms"
    assert str(down) == "down refused"
    assert health_cell(health_of(daemon, SVC, "10.0.1.3")) == NONE  # not checked
    waiting = entry("10.0.1.4", "unknown", result="", ok=False)
    assert str(health_cell(waiting)) == "unknown"  # no probe has answered yet
    assert health_cell(health_of(None, SVC, "10.0.1.1")) == NONE  # no daemon
    stale = DaemonView(1, "/c.toml", True, daemon.health)
    assert health_cell(health_of(stale, SVC, "10.0.1.1")) == NONE  # its daemon is gone
    other = DaemonView.of(DaemonStatus(1.0, 1, "/c.toml", (entry("10.0.1.1"),)), "lb1", None)
    assert other.health == {}  # another interface's checks


def test_daemon_line_shows_drift() -> None:
    assert "no daemon" in daemon_line(None).plain
    synced = DaemonView(7, "/c.toml", False, {}, Drift())
    assert "as configured" in daemon_line(synced).plain
    drifted = DaemonView(
        7, "/c.toml", False, {}, Drift(("  ~ service 10.0.0.4:8080/tcp:", "      ~ x drained"))
    )
    line = daemon_line(drifted).plain
    assert "DRIFT" in line and "1 change " in line and "l4lb diff -f /c.toml" in line
    assert "not in the config" in daemon_line(DaemonView(7, "/c.toml", False)).plain
    assert "gone" in daemon_line(DaemonView(7, "/c.toml", True)).plain
    assert "unknown" in daemon_line(DaemonView(7, "/c", False, {}, Drift(problem="x"))).plain


def test_config_spec_for_this_console() -> None:
    text = (
        '[[balancer]]\ninterface = "eth1"\nnetns = "a"\n\n'
        '[[balancer]]\ninterface = "eth1"\nnetns = "b"\n\n'
        '[[balancer]]\ninterface = "eth2"\n'
    )
    config = parse_config(text, Path("x.toml"))
    spec = spec_for(config, "eth1", "b")
    assert spec is not None and spec.netns == "b"
    assert spec_for(config, "eth1", None) is None  # two namespaces: cannot tell
    eth2 = spec_for(config, "eth2", None)
    assert eth2 is not None and eth2.interface == "eth2"
    assert spec_for(config, "eth3", None) is None


# -- the event log ----------------------------------------------------------------------


def test_events_carry_pid_and_user_and_old_or_newer_lines_still_read(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    events.record(events.Event(1.0, "cli", "old line"), path)
    with path.open("a") as f:
        f.write('{"at":2.0,"who":"daemon","what":"newer","extra":1}\nnot json\n')
    found = events.read(path)
    assert [e.what for e in found] == ["old line", "newer"]
    mine = events.Event(3.0, "console", "drain", "lb0", SVC, pid=os.getpid(), user="root")
    other = events.Event(4.0, "console", "edit", "lb1", SVC, pid=1, user="ann")
    rows = event_rows([*found, mine, other], os.getpid())
    assert [r[1][4] for r in rows] == ["edit", "drain", "newer", "old line"]  # newest first
    assert str(rows[0][1][1]) == "console ann pid 1"
    assert str(rows[1][1][1]) == "console (this one)"
    assert len({key for key, _ in rows}) == 4
    only = event_rows([*found, mine, other], os.getpid(), "lb0")
    assert [r[1][4] for r in only] == ["drain", "newer", "old line"]  # and those naming none


def test_note_records_who_ran_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "events.jsonl"
    monkeypatch.setattr(events, "EVENTS_FILE", path)
    monkeypatch.setenv("SUDO_USER", "ann")
    events.note("cli", "attach", interface="lb0")
    (found,) = events.read(path)
    assert (found.who, found.user, found.pid, found.interface) == ("cli", "ann", os.getpid(), "lb0")


# -- a backend's detail ------------------------------------------------------------------


def counted(n: int, ip: str, pkts: int) -> BackendRow:
    return BackendRow(n, n, SVC, ip, "02:00:00:00:00:01", 1, False, pkts, 100 * pkts, Rate(0, 0))


def test_long_history_rates_between_marks_keep_ten_minutes() -> None:
    history = LongHistory(step=5.0, span=600.0)
    for t in range(1, 1300):
        rows = (counted(1, "10.0.1.1", t * t), counted(2, "10.0.1.2", 2 * t))
        history.add(view(*rows), float(t))
    seconds, pps, bps = history.series(1)
    assert len(pps) == 120 == len(seconds) == len(bps)
    assert seconds[-1] == 0 and seconds[0] == -595
    assert pps[-1] == (1296**2 - 1291**2) / 5  # between the last two marks
    assert history.series(2)[1][-1] == 2.0 and history.series(2)[2][-1] == 1600.0
    # A slot loaded anew (its counters start again) gives no negative rate.
    history.add(view(counted(1, "10.0.1.1", 5), counted(2, "10.0.1.2", 2 * 1301)), 1301.0)
    assert history.series(1)[1][-1] == 0.0
    history.add(view(counted(2, "10.0.1.2", 2 * 1306)), 1306.0)  # backend 1 removed
    assert history.series(1) == ([], [], [])
    assert history.series(2)[1][-1] == 2.0


def svc(gen: int, *backends: Backend) -> Service:
    return Service(abi.ServiceKey("10.0.0.4", 8080, 6), abi.ServiceValue(1, 0, 13, gen), backends)


def state(*services: Service) -> State:
    return State("lb0", abi.Config("10.0.0.1", "02:00:00:00:00:01", 0), None, 1, services)


def test_change_log_notes_weight_drain_health_and_generation() -> None:
    log = ChangeLog()
    a = Backend(1, "10.0.1.1", "02:00:00:00:00:01", 2)
    log.add(state(svc(5, a)), now=10.0)
    log.add(state(svc(6, Backend(1, "10.0.1.1", a.mac, 3))), now=11.0)
    log.add(state(svc(7, Backend(1, "10.0.1.1", a.mac, 3, draining=True))), now=12.0)
    log.add(state(svc(7, Backend(1, "10.0.1.1", a.mac, 3, True, down=True))), now=13.0)
    assert log.changes(1) == [
        (10.0, "first seen: weight 2, serving, generation 5"),
        (11.0, "weight 2 → 3, generation 5 → 6"),
        (12.0, "drained, generation 6 → 7"),
        (13.0, "down (health)"),
    ]


def test_ring_share_is_what_the_fill_gives_each_backend() -> None:
    a = Backend(1, "10.0.1.1", "02:00:00:00:00:01", 3)
    b = Backend(2, "10.0.1.2", "02:00:00:00:00:02", 1)
    drained = Backend(3, "10.0.1.3", "02:00:00:00:00:03", 5, draining=True)
    service = svc(1, a, b, drained)
    shares = [ring_share(service, i) for i in (1, 2, 3)]
    assert shares[2] == 0.0 and abs(sum(shares) - 1.0) < 1e-9
    assert shares[0] > 2 * shares[1]  # weight 3 against weight 1, over 13 slots


# -- a config saved --------------------------------------------------------------------


def test_save_config_writes_a_regular_file_only(tmp_path: Path) -> None:
    target = tmp_path / "running.toml"
    said = save_config(target, "# l4lb export\n[[balancer]]\n")
    assert target.read_text() == "# l4lb export\n[[balancer]]\n" and str(target) in said
    save_config(target, "# again")  # a regular file is replaced
    assert target.read_text() == "# again\n"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(target)
    for refused in (fifo, tmp_path):
        with pytest.raises(ConsoleError, match=r"not a regular file|is a directory"):
            save_config(refused, "x")
    assert target.read_text() == "# again\n"
    # Through a symbolic link, as every save: its target replaced, the link kept.
    assert "the link is kept" in save_config(link, "# linked")
    assert link.is_symlink() and target.read_text() == "# linked\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "link", "running.toml"]


def test_status_written_time_is_recent() -> None:
    status = DaemonStatus(time.time(), os.getpid(), "/c.toml")
    assert health_status.parse(health_status.render(status)) == status
