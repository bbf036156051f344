"""The console's view-model logic the dashboard leans on: the undo stack
after each kind of write, and which service a new backend or file goes to."""

from __future__ import annotations

from l4lb_tui.abi import ServiceKey
from l4lb_tui.viewmodels.backend_rows import target_service
from l4lb_tui.viewmodels.edits import UNDO_DEPTH, Applied, Outcome

TCP = ServiceKey("10.0.0.4", 80, 6)
UDP = ServiceKey("10.0.0.4", 53, 17)


def change(n: int) -> Applied:
    return Applied(f"change {n}", ())


def test_undo_stack_after_each_kind_of_write() -> None:
    stack = [change(1), change(2)]
    assert Outcome("ok", True, change(3)).undo_stack(stack) == [*stack, change(3)]
    assert Outcome("ok", True, change(9), undo=True).undo_stack(stack) == [change(1)]
    assert Outcome("mode", True).undo_stack(stack) == stack  # nothing to undo
    assert Outcome("refused", False).undo_stack(stack) == stack
    assert Outcome("refused", False, undo=True).undo_stack(stack) == stack  # may apply later
    # An undo that can never apply (another writer moved on) leaves the stack.
    assert Outcome("stale", False, undo=True, stale=True).undo_stack(stack) == [change(1)]
    full = [change(n) for n in range(UNDO_DEPTH)]
    assert Outcome("ok", True, change(99)).undo_stack(full) == [*full[1:], change(99)]
    assert stack == [change(1), change(2)]  # never changed in place


def test_target_service() -> None:
    assert target_service(UDP, [TCP, UDP], None) == UDP  # the highlighted row's
    assert target_service(None, [TCP, UDP], str(UDP)) == UDP  # the one shown
    assert target_service(None, [TCP], None) == TCP  # the only one
    assert target_service(None, [TCP, UDP], None) is None
    assert target_service(None, [], None) is None


def test_the_ip_and_service_sorts_order_ipv6_numerically_families_apart() -> None:
    from l4lb_tui.viewmodels import sorting

    ips = ["fd00::9", "10.0.0.2", "fd00::10", "fd00::a", "fd00::100", "fd00::2", "10.0.0.10"]
    assert sorted(ips, key=sorting._address) == [
        "10.0.0.2", "10.0.0.10", "fd00::2", "fd00::9", "fd00::a", "fd00::10", "fd00::100",
    ]  # fmt: skip
    services = [
        "[fd00::4]:8080/tcp", "[fd00::4]:443/tcp", "[fd00::4]:9000/udp", "[fd00::10]:80/tcp",
        "10.0.0.4:80/tcp",
    ]  # fmt: skip
    assert sorted(services, key=sorting._service) == [
        "10.0.0.4:80/tcp", "[fd00::4]:443/tcp", "[fd00::4]:8080/tcp", "[fd00::4]:9000/udp",
        "[fd00::10]:80/tcp",
    ]  # fmt: skip
