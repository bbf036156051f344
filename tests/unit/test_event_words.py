"""The event log's words for a backend change: old → new, as every writer
(the CLI, the console) records it."""

from __future__ import annotations

import time
from pathlib import Path

from l4lb_tui import events
from l4lb_tui.destinations import Destination
from l4lb_tui.events import backend_change
from l4lb_tui.viewmodels.event_rows import when_cell

A = Destination("10.0.0.11", "02:00:00:00:00:11", 1)
B = Destination("10.0.0.12", "02:00:00:00:00:12", 3)


def test_a_weight_change_says_the_old_and_the_new_weight() -> None:
    after = (Destination(A.ip, A.mac, 5), B)
    assert backend_change("weight", A.ip, (A, B), after) == "weight 10.0.0.11: weight 1 → 5"


def test_drain_add_remove_and_no_change() -> None:
    drained = Destination(A.ip, A.mac, 1, drained=True)
    assert backend_change("drain", A.ip, (A,), (drained,)) == "drain 10.0.0.11: drained no → yes"
    assert backend_change("undrain", A.ip, (drained,), (A,)) == (
        "undrain 10.0.0.11: drained yes → no"
    )
    assert backend_change("add", B.ip, (A,), (A, B)) == (
        "add 10.0.0.12: new, weight 3, MAC 02:00:00:00:00:12"
    )
    assert backend_change("remove", B.ip, (A, B), (A,)) == (
        "remove 10.0.0.12: was weight 3, MAC 02:00:00:00:00:12"
    )
    assert backend_change("weight", A.ip, (A,), (A,)) == (
        "weight 10.0.0.11: unchanged, weight 1, MAC 02:00:00:00:00:11"
    )
    assert backend_change("remove", "10.0.0.99", None, None) == "remove 10.0.0.99: not a backend"


def test_lines_of_the_right_shape_but_other_types_are_skipped(tmp_path: Path) -> None:
    """A list or a table for `what` (or a string pid) crashed the console's
    event log, which hashes and formats these fields (tester v1, finding K)."""
    log = tmp_path / "events.jsonl"
    good = '{"at": 1796070000, "who": "cli", "what": "kept"}'
    bad = [
        '{"at": 1796070001, "who": ["x"], "what": {"a": 1}}',
        '{"at": 1796070002, "who": "cli", "what": ["a list"]}',
        '{"at": 1796070003, "who": "cli", "what": "x", "pid": "12"}',
        '{"at": true, "who": "cli", "what": "x"}',
        '{"at": 1796070004, "who": "cli", "what": "x", "service": 7}',
    ]
    log.write_text("\n".join([good, *bad]) + "\n")
    assert [e.what for e in events.read(log)] == ["kept"]


def test_an_event_of_another_year_shows_its_year() -> None:
    """The epoch (what `"at": true` was read as, before such lines were
    skipped) or any other year's entry read as this year's day and minute:
    `01-01 00:00` looked like this new year's day (tester v1)."""
    now = time.mktime((2026, 11, 30, 12, 0, 0, 0, 0, -1))
    assert when_cell(now - 60, now) == "11:59:00"
    assert when_cell(time.mktime((2026, 1, 1, 0, 0, 0, 0, 0, -1)), now) == "01-01 00:00"
    assert when_cell(time.mktime((1970, 1, 1, 0, 0, 1, 0, 0, -1)), now) == "1970-01-01"
    far = time.localtime(1e15)  # year 33658: still one cell of the width (11)
    assert when_cell(1e15, now) == f"{far.tm_year}-{far.tm_mon:02d}-{far.tm_mday:02d}"
