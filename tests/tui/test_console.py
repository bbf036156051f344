"""The façade's pure helpers, the edit plans, the history, and RealBackend's errors."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from tui_support import DATA

from l4lb_tui import abi, backend_edits
from l4lb_tui.app import main
from l4lb_tui.bpftool import Bpftool
from l4lb_tui.console_backend import ConsoleError, StaleError
from l4lb_tui.console_demo import DEMO_SERVICE, FakeBackend
from l4lb_tui.console_files import preview_csv, save_csv
from l4lb_tui.console_kernel import RealBackend
from l4lb_tui.destinations import Destination
from l4lb_tui.services import parse_service_specs, service_spec
from l4lb_tui.stats import build_view
from l4lb_tui.viewmodels import edits
from l4lb_tui.viewmodels.history import RateHistory
from l4lb_tui.viewmodels.sparkline import sparkline

A = Destination("10.0.1.1", "00:15:4d:00:01:01")
B = Destination("10.0.1.2", "00:15:4d:00:01:02", 3)


@pytest.mark.parametrize("spec", ["10.0.0.4:8080/tcp", "10.0.0.4/udp", "10.9.9.9:53/udp"])
def test_service_spec_round_trips(spec: str) -> None:
    [key] = parse_service_specs(spec)
    assert service_spec(key) == spec


def test_service_specs() -> None:
    assert parse_service_specs("  ") == [abi.CATCH_ALL]
    assert service_spec(abi.CATCH_ALL) == ""
    keys = parse_service_specs("10.0.0.4:80, 10.0.0.4:80/tcp 10.0.0.5:53/udp")
    assert [str(k) for k in keys] == ["10.0.0.4:80/tcp", "10.0.0.4:80/udp", "10.0.0.5:53/udp"]
    with pytest.raises(ValueError, match=r"'nope' is not an IP address \(IPv4 or IPv6\)"):
        parse_service_specs("10.0.0.4:80, nope")


def test_save_csv_is_atomic_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    target.chmod(0o600)
    message = save_csv(target, [A, B])
    assert message == f"saved 2 backends to {target}"
    assert target.read_text() == "10.0.1.1, 00:15:4d:00:01:01, 1\n10.0.1.2, 00:15:4d:00:01:02, 3\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    save_csv(target, [A])
    assert target.read_text() == "10.0.1.1, 00:15:4d:00:01:01\n"  # the seed's two columns
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_save_csv_errors(tmp_path: Path) -> None:
    with pytest.raises(ConsoleError, match="is a directory"):
        save_csv(tmp_path, [A])
    with pytest.raises(ConsoleError, match="cannot write"):
        save_csv(tmp_path / "missing" / "out.csv", [A])


def test_preview(tmp_path: Path) -> None:
    good = preview_csv(DATA / "32_destinations.csv")
    assert good.ok and good.summary == "32 destinations, no errors"
    bad = preview_csv(DATA / "bad_destinations.csv")
    assert not bad.ok and bad.result is not None
    assert [e.line for e in bad.result.errors] == [3, 5, 7, 8]
    empty = tmp_path / "empty.csv"
    empty.write_text("# nothing\n")
    assert preview_csv(empty).summary == "no destinations in file"
    huge = tmp_path / "huge.csv"
    lines = [
        f"10.1.{i // 250}.{i % 250 + 1}, 02:00:00:00:00:01" for i in range(abi.MAX_BACKENDS + 1)
    ]
    huge.write_text("\n".join(lines))
    assert "at most 4,096" in preview_csv(huge).summary
    missing = preview_csv(tmp_path / "none.csv")
    assert missing.result is None and "no such file" in missing.summary


def test_sparkline() -> None:
    assert sparkline([], 4, 8, 1) == "    "
    assert sparkline([0, 8], 4, 8, 8) == "   ▅"  # two samples a character: their mean
    assert sparkline([8, 8], 4, 8, 8) == "   █"
    assert sparkline([8] * 8, 4, 8, 8) == "████"
    assert sparkline([0] * 8, 4, 8, 0) == "▁▁▁▁"
    assert len(sparkline(range(100), 30, 60, 100)) == 30


def test_history_tracks_and_forgets_backends() -> None:
    fake = FakeBackend.demo(4)
    history = RateHistory(span=5)
    prev = None
    for _ in range(7):
        sample = fake.sample("lb0")
        assert sample.state is not None and sample.counters is not None
        history.add(build_view(sample.state, prev, sample.counters))
        prev = sample.counters
    assert len(history.total_pps) == 5 and set(history.backends) == {0, 1, 2, 3}
    assert history.peak == max(max(d) for d in history.backends.values())
    # The two busiest over the window, in slot order (a legend that stays put).
    busiest = sorted(history.top(4), key=lambda t: -sum(t[1]))[:2]
    assert [label for label, _ in history.top(2)] == [
        label for label, _ in history.top(4) if (label, _) in busiest
    ]
    fake.load("lb0", [DEMO_SERVICE], [A])
    sample = fake.sample("lb0")
    assert sample.state is not None and sample.counters is not None
    history.add(build_view(sample.state, prev, sample.counters))
    assert set(history.backends) == {0}
    # One server in two services: the legend tells its two lines apart.
    other = abi.ServiceKey(DEMO_SERVICE.vip, 8443, abi.PROTO_TCP)
    fake.load("lb0", [DEMO_SERVICE, other], [A])
    sample = fake.sample("lb0")
    assert sample.state is not None and sample.counters is not None
    history.add(build_view(sample.state, None, sample.counters))
    assert sorted(history.labels.values()) == sorted(
        f"{A.ip} {key}" for key in (DEMO_SERVICE, other)
    )


def test_edit_intents_are_made_against_what_was_shown() -> None:
    fake = FakeBackend.demo(2)
    seen = edits.Seen()
    seen.polled(fake.sample("lb0").state)
    shown = seen(DEMO_SERVICE)
    assert shown is not None and [d.ip for d in shown] == ["10.0.1.1", "10.0.1.2"]
    new = Destination("10.0.1.9", "00:15:4d:00:01:09")
    cases = {
        f"add 10.0.1.9 to {DEMO_SERVICE}": edits.add(seen, [DEMO_SERVICE], new),
        f"edit 10.0.1.2 of {DEMO_SERVICE}: weight 2 → 3": edits.edit(
            seen, DEMO_SERVICE, "10.0.1.2", B
        ),
        f"delete 10.0.1.1 from {DEMO_SERVICE}": edits.delete(seen, DEMO_SERVICE, "10.0.1.1"),
        f"load 1 backend into {DEMO_SERVICE}": edits.load(seen, [DEMO_SERVICE], [A]),
    }
    for summary, intent in cases.items():
        assert intent.summary == summary
        [(key, change)] = intent.changes
        assert key == DEMO_SERVICE and change.seen == shown
    catch_all = edits.load(seen, [abi.CATCH_ALL], [A])
    assert catch_all.changes[0][1].seen is None and "ALL TCP/UDP" in catch_all.note
    # What the console's own write left counts as seen until the next poll.
    done = fake.edit("lb0", dict(cases[f"add 10.0.1.9 to {DEMO_SERVICE}"].changes))
    message, applied = cases[f"add 10.0.1.9 to {DEMO_SERVICE}"].applied(done)
    assert message == f"add 10.0.1.9 to {DEMO_SERVICE}"
    seen.wrote(applied)
    assert seen(DEMO_SERVICE) == (*shown, new) and DEMO_SERVICE in seen.lists()
    undo = applied.undo()
    assert undo.summary == f"undo: add 10.0.1.9 to {DEMO_SERVICE}"
    fake.edit("lb0", dict(undo.changes))
    seen.polled(fake.sample("lb0").state)
    assert seen(DEMO_SERVICE) == shown


def test_drain_intents_follow_what_is_shown() -> None:
    fake = FakeBackend.demo(6)  # slot 3 drained at weight 2, slot 5 at weight 0
    state = fake.sample("lb0").state
    assert state is not None
    seen = edits.Seen(state)
    listed = edits.members(state, DEMO_SERVICE)
    assert [(d.weight, d.drained) for d in listed[3:]] == [(2, True), (1, False), (0, False)]
    shown = {b.ip: b for b in state.services[0].backends}
    drain = edits.drain(seen, DEMO_SERVICE, shown["10.0.1.2"])
    assert drain.summary == f"drain 10.0.1.2 of {DEMO_SERVICE}" and "flows stay" in drain.note
    assert drain.changes[0][1].change == backend_edits.SetDrain("10.0.1.2", True)
    for ip in ("10.0.1.4", "10.0.1.6"):  # drained, and weight 0: both shown draining
        undrain = edits.drain(seen, DEMO_SERVICE, shown[ip])
        assert undrain.summary.startswith("undrain") and "takes new flows" in undrain.note
        assert undrain.changes[0][1].change == backend_edits.SetDrain(ip, False)


def test_an_open_form_learns_what_another_writer_did() -> None:
    was = (A, B)
    assert edits.moved(A.ip, was, was) is None
    assert edits.moved(A.ip, was, (B, A)) is None  # order does not count
    now = edits.moved(B.ip, was, (A, replace(B, weight=5, mac="00:15:4d:00:01:22")))
    assert now is not None and now.fields == (
        ("MAC", B.mac, "00:15:4d:00:01:22"),
        ("weight", "3", "5"),
    )
    assert "another writer changed 10.0.1.2" in now.note(B.ip, DEMO_SERVICE)
    gone = edits.moved(B.ip, was, (A,))
    assert gone is not None and "removed 10.0.1.2" in gone.note(B.ip, DEMO_SERVICE)


def test_the_fake_applies_the_balancers_rules() -> None:
    fake = FakeBackend.demo(6)
    fake.edit("lb0", {DEMO_SERVICE: backend_edits.SetDrain("10.0.1.1", True)})
    state = fake.state("lb0")
    assert state is not None
    got = {b.ip: (b.weight, b.draining) for b in state.services[0].backends}
    assert got["10.0.1.1"] == (1, True) and got["10.0.1.2"] == (2, False)
    # A weight-0 sibling keeps weight 0 through another backend's drain.
    assert got["10.0.1.6"] == (0, True)
    with pytest.raises(ConsoleError, match="not a backend"):
        fake.edit("lb0", {DEMO_SERVICE: backend_edits.SetDrain("10.9.9.9", True)})
    stale = backend_edits.Expecting((), backend_edits.Remove("10.0.1.1"))
    with pytest.raises(StaleError, match="changed since you opened this"):
        fake.edit("lb0", {DEMO_SERVICE: stale})
    fake.load("lb0", [abi.CATCH_ALL], [A])
    fake.edit("lb0", {abi.CATCH_ALL: backend_edits.DropService()})
    state = fake.state("lb0")
    assert state is not None and [s.key for s in state.services] == [DEMO_SERVICE]
    with pytest.raises(ConsoleError, match="no service"):
        fake.edit("lb0", {abi.CATCH_ALL: backend_edits.DropService()})
    assert fake.writes == [
        "edit lb0 10.0.0.4:8080/tcp 6",
        "edit lb0 * (all TCP/UDP) 1",
        "remove lb0 * (all TCP/UDP)",
    ]


def test_real_backend_reports_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    real = RealBackend(bpftool=Bpftool(binary="/nonexistent/bpftool"))
    assert any("not found" in p for p in real.environment_problems())
    with pytest.raises(ConsoleError, match="does not exist"):
        real.sample("nosuchlink0")
    assert any(row.link.ifname == "lo" for row in real.links())
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert any("not root" in p for p in real.environment_problems())
    with pytest.raises(ConsoleError, match="needs root"):
        real.attach("lo", "driver")


def test_main_rejects_a_missing_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--netns", "l4lb-no-such-ns"])
    assert done.value.code == 2
    assert "does not exist" in capsys.readouterr().err
