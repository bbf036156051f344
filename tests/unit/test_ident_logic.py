"""A balancer's identity, its pins' names and record, and which pins are stale."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from l4lb_tui.ghosts import SeenLink, judge, moved, rerun, running
from l4lb_tui.identity import (
    RECORD_SIZE,
    BalancerId,
    Netns,
    Pinned,
    Record,
    legacy_dirname,
    legacy_ifname,
    netns_name_problem,
    parse_dirname,
)
from l4lb_tui.lock import LockedError, interface_lock
from l4lb_tui.netlink import namespaces
from l4lb_tui.validation import ifname as valid_ifname

X = Netns(4097, "x")
Y = Netns(4098, "y")
HOST = Netns(3, "", host=True)


def test_identity_names_a_directory_no_interface_can_have() -> None:
    ident = BalancerId(4097, 7)
    assert ident.dirname == "ns4097:if7"
    assert parse_dirname(ident.dirname) == ident
    with pytest.raises(ValueError):
        valid_ifname(ident.dirname)
    for name in ("ns4097", "ns:if7", "ns4097:if", "ns1:if2x", "eth0", "~staging"):
        assert parse_dirname(name) is None


def test_legacy_names_round_trip_and_staging_is_none() -> None:
    assert legacy_dirname("eth0.100") == "eth0~100"
    assert legacy_ifname("eth0~100") == "eth0.100"
    assert legacy_ifname("lab-lb0") == "lab-lb0"
    assert legacy_ifname("~staging") is None
    assert legacy_ifname("ns4097:if7") is None
    assert legacy_ifname("a" * 16) is None


def test_record_packs_and_unpacks() -> None:
    rec = Record.of(BalancerId(4097, 7), "v0", X)
    raw = rec.pack()
    assert len(raw) == RECORD_SIZE
    assert Record.unpack(raw) == rec
    assert rec.ident == BalancerId(4097, 7) and rec.netns_seen == X
    host = Record.of(BalancerId(3, 2), "eth0", HOST)
    assert Record.unpack(host.pack()) == host and host.netns_seen.place == HOST.place
    assert Record.unpack(b"\0" * RECORD_SIZE) is None, "no version: not a record"
    assert Record.unpack(raw[:10]) is None


def test_places_name_the_namespace() -> None:
    assert X.place == "network namespace x"
    assert HOST.place == "the host's network namespace"
    assert Netns(9).place == "the unnamed network namespace with cookie 9"


def pinned(ident: BalancerId | None, prog: int | None, name: str = "v0") -> Pinned:
    path = Path("/sys/fs/bpf/l4lb") / (ident.dirname if ident else name)
    netns = {X.cookie: X, Y.cookie: Y}.get(ident.netns_cookie, Netns(0)) if ident else None
    record = Record.of(ident, name, netns) if ident and netns else None
    return Pinned(path, ident, record, prog)


SEEN = [
    (X, [SeenLink(1, "lo", 0), SeenLink(7, "v0", 11), SeenLink(8, "v1", 0)]),
    (Y, [SeenLink(1, "lo", 0), SeenLink(7, "v0", 22), SeenLink(9, "w0", 0)]),
]


def test_live_balancers_are_kept() -> None:
    verdict = judge(pinned(BalancerId(X.cookie, 7), 11), SEEN)
    assert not verdict.stale and verdict.why == "runs on v0 in network namespace x"
    # Loaded, not attached: the operator may attach it again.
    verdict = judge(pinned(BalancerId(X.cookie, 8), 33, "v1"), SEEN)
    assert not verdict.stale and "not attached" in verdict.why
    # Half made (no program yet) on a live link: an attach in progress.
    assert not judge(pinned(BalancerId(Y.cookie, 9), None, "w0"), SEEN).stale


def test_gone_interfaces_and_namespaces_are_stale() -> None:
    verdict = judge(pinned(BalancerId(X.cookie, 12), 44), SEEN)
    assert verdict.stale and verdict.why == "v0 in network namespace x: the interface is gone"
    verdict = judge(pinned(BalancerId(Y.cookie + 100, 7), 55), SEEN)
    assert verdict.stale and verdict.why.endswith(": the namespace is gone")
    assert "cookie 4198" in verdict.why, "no record: named by its identity"


def test_pins_whose_link_the_kernel_let_go_are_stale_beside_a_later_link() -> None:
    """F1: index 8 of x is a later link's; the pins' devmap note of theirs
    was emptied when it went.  Noted (or unnoted: older pins), it is theirs."""
    left = dataclasses.replace(pinned(BalancerId(X.cookie, 8), 33, "v1"), holds_link=False)
    verdict = judge(left, SEEN)
    assert verdict.stale and verdict.why == (
        "v1 in network namespace x: the interface is gone (its index is v1's now, a later link)"
    )
    for noted in (True, None):
        kept = dataclasses.replace(left, holds_link=noted)
        assert not judge(kept, SEEN).stale
    # Its program runs on elsewhere (moved): kept, whatever the note says.
    assert not judge(dataclasses.replace(left, prog_id=22), SEEN).stale


def test_a_moved_link_is_found_with_how_to_reach_it() -> None:
    assert moved("v0", Y, SeenLink(7, "v0", 22), "detach") == (
        "it was moved to network namespace y, where its balancer runs on: "
        "use 'l4lb --netns y detach -i v0'"
    )
    assert "(named w0 there)" in moved("v0", Y, SeenLink(9, "w0", 22))


def test_a_program_that_runs_anywhere_is_never_stale() -> None:
    """A link moved to another namespace takes the program along."""
    verdict = judge(pinned(BalancerId(Y.cookie + 100, 7), 22), SEEN)
    assert not verdict.stale and verdict.why == "runs on v0 in network namespace y"


def test_legacy_pins_are_judged_by_their_program_and_name() -> None:
    verdict = judge(pinned(None, 22), SEEN)
    assert not verdict.stale
    assert "running on v0 in network namespace y" in verdict.why
    assert "'l4lb --netns y stats -i v0 --once' adopts them" in verdict.why
    verdict = judge(pinned(None, 99), SEEN)
    assert not verdict.stale and "whose program runs on no interface" in verdict.why
    assert "network namespace x, network namespace y" in verdict.why
    assert "'l4lb --netns x detach -i v0' removes them" in verdict.why
    verdict = judge(pinned(None, 99, "gone0"), SEEN)
    assert verdict.stale and "no namespace has a gone0" in verdict.why
    assert judge(pinned(None, None, "gone0"), SEEN).stale


def test_rerun_says_how_to_reach_a_namespace() -> None:
    assert rerun(X, "l4lb detach -i v0") == "'l4lb --netns x detach -i v0'"
    assert rerun(HOST, "l4lb detach -i v0") == "'l4lb detach -i v0' in the host's network namespace"
    assert "nsenter" in rerun(Netns(5), "l4lb detach -i v0")
    assert running(22, SEEN) == (Y, SeenLink(7, "v0", 22))
    assert running(0, SEEN) is None and running(None, SEEN) is None


def test_here_is_this_threads_namespace() -> None:
    mine = namespaces.here()
    assert mine.cookie > 0
    found: list[Netns] = []
    worker = threading.Thread(target=lambda: found.append(namespaces.here()))
    worker.start()
    worker.join()
    assert found == [mine], "a thread starts in its creator's namespace"


def test_a_refusal_names_the_interface_not_the_identity() -> None:
    with interface_lock("ns4097:if7", shown="v0"), pytest.raises(LockedError) as refused:
        interface_lock("ns4097:if7", shown="v0").__enter__()
    assert str(refused.value).startswith("v0 is in use by PID ")


def test_a_namespace_name_too_long_for_the_record_is_never_cut() -> None:
    """The record kept the first 64 bytes of a longer name: a name that
    belongs to another namespace, or to none."""
    assert netns_name_problem("n" * 63) is None
    assert "longer than the 63" in str(netns_name_problem("n" * 64))
    long = Record.of(BalancerId(9, 2), "v0", Netns(9, "n" * 70))
    back = Record.unpack(long.pack())
    assert back is not None and back.netns == "" and back.netns_seen.cookie == 9
