"""Health checks' pure logic: rise/fall counting, the service verdict, the board."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from l4lb_tui.health.logic.board import HealthBoard
from l4lb_tui.health.logic.counting import describe, step
from l4lb_tui.health.logic.verdict import decide
from l4lb_tui.health.model import (
    BackendHealth,
    CheckKey,
    ProbeResult,
    ServiceVerdict,
    Status,
    Target,
)

KEY = CheckKey("svc", "10.0.0.11")


def result(ok: bool, at: float = 0.0, key: CheckKey = KEY) -> ProbeResult:
    return ProbeResult(key, Target.TUNNEL, ok, 0.001, "connected" if ok else "refused", at)


def run(oks: list[bool], rise: int, fall: int) -> list[BackendHealth]:
    health = BackendHealth()
    seen = []
    for i, ok in enumerate(oks):
        health = step(health, result(ok, float(i)), rise, fall)
        seen.append(health)
    return seen


def reference(oks: list[bool], rise: int, fall: int) -> list[bool]:
    """Healthy or not after each result, counted the plainest way."""
    up: bool | None = None
    against = 0
    out = []
    for ok in oks:
        if up is None:
            up = ok
        elif ok == up:
            against = 0
        else:
            against += 1
            if against >= (fall if up else rise):
                up, against = ok, 0
        out.append(up)
    return out


counts = st.integers(min_value=1, max_value=6)


@given(st.lists(st.booleans(), max_size=60), counts, counts)
def test_counting_agrees_with_the_plain_model(oks: list[bool], rise: int, fall: int) -> None:
    assert [h.healthy for h in run(oks, rise, fall)] == reference(oks, rise, fall)


@given(st.lists(st.booleans(), min_size=1, max_size=60), counts, counts)
def test_since_moves_only_with_the_status(oks: list[bool], rise: int, fall: int) -> None:
    before = BackendHealth()
    for i, ok in enumerate(oks):
        after = step(before, result(ok, float(i + 1)), rise, fall)
        assert (after.since != before.since) == (after.status is not before.status)
        assert after.last is not None and after.last.started == float(i + 1)
        assert after.known
        before = after


def test_a_first_result_settles_an_unknown_backend() -> None:
    assert run([True], 5, 5)[-1].status is Status.UP
    assert run([False], 5, 5)[-1].status is Status.DOWN


def test_fall_failures_in_a_row_take_it_down_and_a_pass_forgives() -> None:
    statuses = [h.status for h in run([True, False, False, True, False, False, False], 2, 3)]
    assert statuses == [
        Status.UP,
        Status.FALLING,
        Status.FALLING,
        Status.UP,
        Status.FALLING,
        Status.FALLING,
        Status.DOWN,
    ]


def test_rise_passes_in_a_row_bring_it_back() -> None:
    statuses = [h.status for h in run([False, True, False, True, True], 2, 3)]
    assert statuses == [Status.DOWN, Status.RISING, Status.DOWN, Status.RISING, Status.UP]


def test_rise_and_fall_of_one_follow_every_result() -> None:
    assert [h.healthy for h in run([True, False, True, False], 1, 1)] == [True, False, True, False]


def test_counts_below_one_are_refused() -> None:
    with pytest.raises(ValueError):
        step(BackendHealth(), result(True), 0, 3)


def test_describe_names_the_change_and_what_was_seen() -> None:
    down = run([False], 2, 3)[-1]
    assert describe("be1", BackendHealth(), down) == "be1: unknown -> down: refused"
    assert describe("be1", down, down) == ""


def health(status: Status) -> BackendHealth:
    return BackendHealth(status=status, streak=1)


statuses = st.sampled_from(list(Status))
pools = st.dictionaries(
    st.sampled_from([f"10.0.0.{i}" for i in range(11, 19)]), statuses.map(health), max_size=8
)


@given(
    pools,
    st.integers(min_value=0, max_value=10),
    st.sets(st.sampled_from(["10.0.0.11", "10.0.0.12", "10.0.0.99"])),
)
def test_verdict_rules(pool: dict[str, BackendHealth], quorum: int, out: set[str]) -> None:
    verdict = decide(pool, quorum, "drain", out)
    everyone = frozenset(pool)
    assert verdict.serve | verdict.take_out == everyone
    assert not verdict.serve & verdict.take_out
    waiting = {ip for ip, h in pool.items() if h.status is Status.UNKNOWN}
    healthy = {ip for ip, h in pool.items() if h.healthy}
    assert verdict.waiting == waiting and verdict.healthy == healthy
    assert verdict.held == bool(waiting)
    if verdict.held:
        assert verdict.take_out == everyone & out, "a start changes nothing"
        assert not verdict.failed_open
    elif everyone and len(healthy) < quorum:
        assert verdict.failed_open and verdict.serve == everyone
        assert "FAILING OPEN" in verdict.message
    else:
        assert verdict.serve == healthy and verdict.take_out == everyone - healthy
        assert not verdict.failed_open and verdict.message == ""


def test_a_restart_never_drains_the_pool() -> None:
    pool = {"a": health(Status.DOWN), "b": BackendHealth(), "c": health(Status.DOWN)}
    held = decide(pool, 1, "drain")
    assert held.held and held.serve == {"a", "b", "c"} and "1 of 3" in held.message
    pool["b"] = health(Status.DOWN)
    failed = decide(pool, 1, "drain")
    assert failed.failed_open and failed.serve == {"a", "b", "c"}
    pool["b"] = health(Status.UP)
    assert decide(pool, 1, "remove") == ServiceVerdict(
        healthy=frozenset({"b"}),
        unhealthy=frozenset({"a", "c"}),
        waiting=frozenset(),
        serve=frozenset({"b"}),
        take_out=frozenset({"a", "c"}),
        on_failure="remove",
        quorum=1,
    )


def test_falling_still_serves_and_rising_does_not() -> None:
    verdict = decide({"a": health(Status.FALLING), "b": health(Status.RISING)}, 1, "drain")
    assert verdict.serve == {"a"} and verdict.take_out == {"b"}


def test_no_backends_no_alarm() -> None:
    verdict = decide({}, 1, "drain")
    assert not verdict.failed_open and not verdict.held and verdict.serve == frozenset()


def test_board_counts_results_and_keeps_health_across_changes() -> None:
    board = HealthBoard()
    a, b = CheckKey("s", "10.0.0.11"), CheckKey("s", "10.0.0.12")
    board.set_checks({a: (2, 2), b: (2, 2)})
    changes = board.apply([result(True, 1, a), result(False, 1, b), result(False, 2, b)])
    assert [(c.key, c.after.status) for c in changes] == [(a, Status.UP), (b, Status.DOWN)]
    board.set_checks({a: (2, 2), CheckKey("t", "10.0.0.13"): (1, 1)})
    assert board.health(a).status is Status.UP
    assert board.apply([result(False, 3, b)]) == []  # no longer checked
    assert set(board.service("s")) == {"10.0.0.11"} and len(board) == 2
    with pytest.raises(ValueError):
        board.set_checks({a: (0, 1)})


def test_the_quorum_counts_only_backends_that_would_serve() -> None:
    # a and b are healthy but drained by an operator: only c would serve.
    pool = {"a": health(Status.UP), "b": health(Status.UP), "c": health(Status.DOWN)}
    verdict = decide(pool, 1, "drain", serving={"c"})
    assert verdict.failed_open and verdict.take_out == frozenset()
    assert "0 of 1 backend that would serve" in verdict.message
    assert decide(pool, 1, "drain").take_out == {"c"}, "everyone counts without `serving`"
