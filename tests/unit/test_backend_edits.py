"""The backend-edit rules, tested once here: Balancer.edit (the CLI, the
console's RealBackend) and the console's FakeBackend all apply these."""

from __future__ import annotations

from dataclasses import replace

import pytest

from l4lb_tui import backend_edits as E
from l4lb_tui.abi import PROTO_TCP, ServiceKey
from l4lb_tui.destinations import Destination

KEY = ServiceKey("10.0.0.4", 80, PROTO_TCP)
A = Destination("10.0.1.1", "02:00:00:00:01:01", 2)
B = Destination("10.0.1.2", "02:00:00:00:01:02", 0)  # weight 0: drains by its weight
C = Destination("10.0.1.3", "02:00:00:00:01:03", 3, drained=True)
NOW = (A, B, C)


def test_add() -> None:
    new = Destination("10.0.1.9", "02:00:00:00:01:09")
    assert E.Add(new)(KEY, NOW) == (A, B, C, new)
    with pytest.raises(E.EditError, match=f"10.0.1.1 is already a backend of {KEY}"):
        E.Add(replace(A, mac="02:00:00:00:01:99"))(KEY, NOW)
    with pytest.raises(E.EditError, match=f"no service {KEY}"):
        E.Add(new)(KEY, None)
    assert E.Add(new, create=True)(KEY, None) == (new,)
    with pytest.raises(E.EditError, match="weight 65536 is out of range 0-65535"):
        E.Add(replace(new, weight=65536))(KEY, NOW)


def test_remove() -> None:
    assert E.Remove(B.ip)(KEY, NOW) == (A, C)
    with pytest.raises(E.EditError, match=f"10.9.9.9 is not a backend of {KEY}"):
        E.Remove("10.9.9.9")(KEY, NOW)
    with pytest.raises(E.EditError, match="no service"):
        E.Remove(A.ip)(KEY, None)


def test_weight_keeps_a_drain() -> None:
    assert E.SetWeight(C.ip, 7)(KEY, NOW) == (A, B, replace(C, weight=7))
    assert E.SetWeight(A.ip, 0)(KEY, NOW)[0] == replace(A, weight=0)
    with pytest.raises(E.EditError, match="out of range"):
        E.SetWeight(A.ip, -1)(KEY, NOW)
    with pytest.raises(E.EditError, match="not a backend"):
        E.SetWeight("10.9.9.9", 1)(KEY, NOW)


def test_drain_and_undrain() -> None:
    assert E.SetDrain(A.ip, True)(KEY, NOW)[0] == replace(A, drained=True)  # weight kept
    assert E.SetDrain(C.ip, False)(KEY, NOW)[2] == replace(C, drained=False)  # back at 3
    # Undraining a weight-0 backend gives it weight 1: it would take no flows at 0.
    assert E.SetDrain(B.ip, False)(KEY, NOW)[1] == replace(B, weight=1)
    assert E.SetDrain(B.ip, True)(KEY, NOW)[1] == replace(B, drained=True)  # 0 stays 0
    with pytest.raises(E.EditError, match="not a backend"):
        E.SetDrain("10.9.9.9", True)(KEY, NOW)


def test_replace() -> None:
    moved = Destination("10.0.1.8", A.mac, 5)
    assert E.Replace(A.ip, moved)(KEY, NOW) == (moved, B, C)
    assert E.Replace(A.ip, moved).touches == {A.ip, moved.ip}
    with pytest.raises(E.EditError, match=r"10\.0\.1\.2 is already a backend"):
        E.Replace(A.ip, replace(A, ip=B.ip))(KEY, NOW)
    with pytest.raises(E.EditError, match="nothing changed"):
        E.Replace(A.ip, A)(KEY, NOW)
    with pytest.raises(E.EditError, match="not a backend"):
        E.Replace("10.9.9.9", A)(KEY, NOW)


def test_load_and_drop_service() -> None:
    assert E.Load((A,))(KEY, None) == (A,) and E.Load((A,))(KEY, NOW) == (A,)
    assert E.DropService()(KEY, NOW) is None
    with pytest.raises(E.EditError, match="no service"):
        E.DropService()(KEY, None)


def test_looks_as_an_operator_sees() -> None:
    assert E.looks(NOW) == E.looks((C, B, A))  # order does not count
    assert E.looks(NOW) == E.looks((A, replace(B, drained=True), C))  # weight 0 drains anyway
    assert E.looks(NOW) != E.looks((replace(A, weight=3), B, C))
    assert E.looks(NOW, frozenset({B.ip})) == E.looks((B,))
    assert E.looks(None) is None and E.looks(()) == frozenset()


def test_expecting_refuses_only_what_changed_under_it() -> None:
    drain = E.Expecting(NOW, E.SetDrain(A.ip, True))
    # Another writer added a backend and reweighted C: A is as shown, so it goes ahead.
    other = (A, B, replace(C, weight=9), Destination("10.0.1.7", "02:00:00:00:01:07"))
    assert drain(KEY, other)[0] == replace(A, drained=True)
    with pytest.raises(E.SetChanged) as refused:
        drain(KEY, (replace(A, weight=5), B, C))
    assert str(refused.value) == f"10.0.1.1 of {KEY} changed since you opened this (another writer)"
    with pytest.raises(E.SetChanged, match=f"the backends of {KEY} changed"):
        E.Expecting(NOW, E.Load((A,)))(KEY, other)
    # A service that appeared or went away since counts as changed.
    with pytest.raises(E.SetChanged):
        E.Expecting(None, E.Add(A, create=True))(KEY, ())
    with pytest.raises(E.SetChanged):
        drain(KEY, None)


def test_undo_puts_back_only_what_the_change_touched() -> None:
    new = Destination("10.0.1.9", "02:00:00:00:01:09")
    for change in (E.Add(new), E.Remove(B.ip), E.SetDrain(B.ip, False), E.Replace(A.ip, new)):
        after = change(KEY, NOW)
        back = E.undo(KEY, change.touches, (NOW, after))
        assert E.looks(back(KEY, after)) == E.looks(NOW), change
        # Meanwhile another writer reweighted C: undo keeps that.
        later = tuple(replace(d, weight=9) if d.ip == C.ip else d for d in after or ())
        assert E.looks(back(KEY, later)) == E.looks((A, B, replace(C, weight=9))), change
    # In its place: an undone weight does not move the backend to the end.
    after = E.SetWeight(A.ip, 4)(KEY, NOW)
    assert E.undo(KEY, frozenset({A.ip}), (NOW, after))(KEY, after) == NOW
    with pytest.raises(E.SetChanged):  # what the change touched was changed since
        E.undo(KEY, frozenset({A.ip}), (NOW, after))(KEY, NOW)
    # The whole list: a load undone, or a service it made removed.
    assert E.undo(KEY, None, (None, (A,)))(KEY, (A,)) is None
    with pytest.raises(E.SetChanged):
        E.undo(KEY, None, (NOW, (A,)))(KEY, (A, B))


def test_apply_all_is_all_or_nothing() -> None:
    other = ServiceKey("10.0.0.4", 80, 17)
    lists = {KEY: NOW, other: (A,)}
    done = E.apply_all({KEY: E.Remove(A.ip), other: E.Remove(A.ip)}, lists.get)
    assert done == {KEY: (NOW, (B, C)), other: ((A,), ())}
    with pytest.raises(E.EditError, match=f"is not a backend of {other}"):
        E.apply_all({KEY: E.Remove(B.ip), other: E.Remove(B.ip)}, lists.get)
