"""The backend-edit rules, tested once here: Balancer.edit (the CLI, the
console's RealBackend) and the console's FakeBackend all apply these."""

from __future__ import annotations

from dataclasses import replace

import pytest

from l4lb_tui import backend_edits
from l4lb_tui.abi import PROTO_TCP, ServiceKey
from l4lb_tui.destinations import Destination

KEY = ServiceKey("10.0.0.4", 80, PROTO_TCP)
A = Destination("10.0.1.1", "02:00:00:00:01:01", 2)
B = Destination("10.0.1.2", "02:00:00:00:01:02", 0)  # weight 0: drains by its weight
C = Destination("10.0.1.3", "02:00:00:00:01:03", 3, drained=True)
NOW = (A, B, C)


def test_add() -> None:
    new = Destination("10.0.1.9", "02:00:00:00:01:09")
    assert backend_edits.Add(new)(KEY, NOW) == (A, B, C, new)
    with pytest.raises(backend_edits.EditError, match=f"10.0.1.1 is already a backend of {KEY}"):
        backend_edits.Add(replace(A, mac="02:00:00:00:01:99"))(KEY, NOW)
    with pytest.raises(backend_edits.EditError, match=f"no service {KEY}"):
        backend_edits.Add(new)(KEY, None)
    assert backend_edits.Add(new, create=True)(KEY, None) == (new,)
    with pytest.raises(backend_edits.EditError, match="weight 65536 is out of range 0-65535"):
        backend_edits.Add(replace(new, weight=65536))(KEY, NOW)


def test_remove() -> None:
    assert backend_edits.Remove(B.ip)(KEY, NOW) == (A, C)
    with pytest.raises(backend_edits.EditError, match=f"10.9.9.9 is not a backend of {KEY}"):
        backend_edits.Remove("10.9.9.9")(KEY, NOW)
    with pytest.raises(backend_edits.EditError, match="no service"):
        backend_edits.Remove(A.ip)(KEY, None)


def test_weight_keeps_a_drain() -> None:
    assert backend_edits.SetWeight(C.ip, 7)(KEY, NOW) == (A, B, replace(C, weight=7))
    assert backend_edits.SetWeight(A.ip, 0)(KEY, NOW)[0] == replace(A, weight=0)
    with pytest.raises(backend_edits.EditError, match="out of range"):
        backend_edits.SetWeight(A.ip, -1)(KEY, NOW)
    with pytest.raises(backend_edits.EditError, match="not a backend"):
        backend_edits.SetWeight("10.9.9.9", 1)(KEY, NOW)


def test_drain_and_undrain() -> None:
    assert backend_edits.SetDrain(A.ip, True)(KEY, NOW)[0] == replace(
        A, drained=True
    )  # weight kept
    assert backend_edits.SetDrain(C.ip, False)(KEY, NOW)[2] == replace(
        C, drained=False
    )  # back at 3
    # Undraining a weight-0 backend gives it weight 1: it would take no flows at 0.
    assert backend_edits.SetDrain(B.ip, False)(KEY, NOW)[1] == replace(B, weight=1)
    assert backend_edits.SetDrain(B.ip, True)(KEY, NOW)[1] == replace(B, drained=True)  # 0 stays 0
    with pytest.raises(backend_edits.EditError, match="not a backend"):
        backend_edits.SetDrain("10.9.9.9", True)(KEY, NOW)


def test_replace() -> None:
    moved = Destination("10.0.1.8", A.mac, 5)
    assert backend_edits.Replace(A.ip, moved)(KEY, NOW) == (moved, B, C)
    assert backend_edits.Replace(A.ip, moved).touches == {A.ip, moved.ip}
    with pytest.raises(backend_edits.EditError, match=r"10\.0\.1\.2 is already a backend"):
        backend_edits.Replace(A.ip, replace(A, ip=B.ip))(KEY, NOW)
    with pytest.raises(backend_edits.EditError, match="nothing changed"):
        backend_edits.Replace(A.ip, A)(KEY, NOW)
    with pytest.raises(backend_edits.EditError, match="not a backend"):
        backend_edits.Replace("10.9.9.9", A)(KEY, NOW)


def test_load_and_drop_service() -> None:
    assert backend_edits.Load((A,))(KEY, None) == (A,) and backend_edits.Load((A,))(KEY, NOW) == (
        A,
    )
    assert backend_edits.DropService()(KEY, NOW) is None
    with pytest.raises(backend_edits.EditError, match="no service"):
        backend_edits.DropService()(KEY, None)


def test_looks_as_an_operator_sees() -> None:
    assert backend_edits.looks(NOW) == backend_edits.looks((C, B, A))  # order does not count
    assert backend_edits.looks(NOW) == backend_edits.looks(
        (A, replace(B, drained=True), C)
    )  # weight 0 drains anyway
    assert backend_edits.looks(NOW) != backend_edits.looks((replace(A, weight=3), B, C))
    assert backend_edits.looks(NOW, frozenset({B.ip})) == backend_edits.looks((B,))
    assert backend_edits.looks(None) is None and backend_edits.looks(()) == frozenset()


def test_expecting_refuses_only_what_changed_under_it() -> None:
    drain = backend_edits.Expecting(NOW, backend_edits.SetDrain(A.ip, True))
    # Another writer added a backend and reweighted C: A is as shown, so it goes ahead.
    other = (A, B, replace(C, weight=9), Destination("10.0.1.7", "02:00:00:00:01:07"))
    assert drain(KEY, other)[0] == replace(A, drained=True)
    with pytest.raises(backend_edits.SetChanged) as refused:
        drain(KEY, (replace(A, weight=5), B, C))
    assert str(refused.value) == f"10.0.1.1 of {KEY} changed since you opened this (another writer)"
    with pytest.raises(backend_edits.SetChanged, match=f"the backends of {KEY} changed"):
        backend_edits.Expecting(NOW, backend_edits.Load((A,)))(KEY, other)
    # A service that appeared or went away since counts as changed.
    with pytest.raises(backend_edits.SetChanged):
        backend_edits.Expecting(None, backend_edits.Add(A, create=True))(KEY, ())
    with pytest.raises(backend_edits.SetChanged):
        drain(KEY, None)


def test_undo_puts_back_only_what_the_change_touched() -> None:
    new = Destination("10.0.1.9", "02:00:00:00:01:09")
    for change in (
        backend_edits.Add(new),
        backend_edits.Remove(B.ip),
        backend_edits.SetDrain(B.ip, False),
        backend_edits.Replace(A.ip, new),
    ):
        after = change(KEY, NOW)
        back = backend_edits.undo(KEY, change.touches, (NOW, after))
        assert backend_edits.looks(back(KEY, after)) == backend_edits.looks(NOW), change
        # Meanwhile another writer reweighted C: undo keeps that.
        later = tuple(replace(d, weight=9) if d.ip == C.ip else d for d in after or ())
        assert backend_edits.looks(back(KEY, later)) == backend_edits.looks(
            (A, B, replace(C, weight=9))
        ), change
    # In its place: an undone weight does not move the backend to the end.
    after = backend_edits.SetWeight(A.ip, 4)(KEY, NOW)
    assert backend_edits.undo(KEY, frozenset({A.ip}), (NOW, after))(KEY, after) == NOW
    with pytest.raises(backend_edits.SetChanged):  # what the change touched was changed since
        backend_edits.undo(KEY, frozenset({A.ip}), (NOW, after))(KEY, NOW)
    # The whole list: a load undone, or a service it made removed.
    assert backend_edits.undo(KEY, None, (None, (A,)))(KEY, (A,)) is None
    with pytest.raises(backend_edits.SetChanged):
        backend_edits.undo(KEY, None, (NOW, (A,)))(KEY, (A, B))


def test_apply_all_is_all_or_nothing() -> None:
    other = ServiceKey("10.0.0.4", 80, 17)
    lists = {KEY: NOW, other: (A,)}
    done = backend_edits.apply_all(
        {KEY: backend_edits.Remove(A.ip), other: backend_edits.Remove(A.ip)}, lists.get
    )
    assert done == {KEY: (NOW, (B, C)), other: ((A,), ())}
    with pytest.raises(backend_edits.EditError, match=f"is not a backend of {other}"):
        backend_edits.apply_all(
            {KEY: backend_edits.Remove(B.ip), other: backend_edits.Remove(B.ip)}, lists.get
        )


def test_an_undrain_does_not_undo_the_health_checkers_drain() -> None:
    down = replace(A, down=True)
    with pytest.raises(backend_edits.EditError, match="the health checker holds it down"):
        backend_edits.SetDrain(A.ip, False)(KEY, (down, B, C))
    # Drained by an operator as well: the operator's part is undone.
    both = replace(A, down=True, drained=True)
    assert backend_edits.SetDrain(A.ip, False)(KEY, (both, B, C))[0] == down
