"""A new connection goes where its SYN went, through the real program:
whatever an earlier connection on the same 5-tuple left in the flow table,
and whatever changes between its SYN and its next packets.

Each case runs the packets of a client that reuses its source ports (behind
NAT, or a busy one whose ephemeral ports wrap): an old connection (SYN, ACK,
data, RST, as SO_LINGER 0 closes), a backend change, and a new connection on
the same 5-tuple (SYN, ACK, data).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from l4lb_tui import bpfsys
from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination
from tests.dataplane.conftest import attached

pytestmark = pytest.mark.kernel

SVC = ServiceKey("10.0.0.4", 8080, 6)
POOL = [Destination(f"10.2.0.{i}", f"02:00:00:02:00:{i:02x}") for i in range(1, 6)]
START = POOL[:3]
PORTS = range(42000, 42300)
SYN, ACK, PSH_ACK, RST = "S", "A", "PA", "R"


def tcp(sport: int, flags: str) -> bytes:
    payload = b"GET / HTTP/1.0\r\n\r\n" if "P" in flags else b""
    return bytes(
        Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:04")
        / IP(src="10.0.0.2", dst=SVC.vip)
        / TCP(sport=sport, dport=SVC.port, flags=flags)
        / Raw(payload)
    )


def sent_to(fd: int, sport: int, flags: str) -> str:
    res = bpfsys.test_run(fd, tcp(sport, flags))
    assert res.verdict == "XDP_TX", (sport, flags, res.verdict)
    return str(Ether(res.data)[IP].dst)


def members(bal: Balancer) -> set[str]:
    return {d.ip for d in bal.members(SVC)}


# Each change: what it does, and the backend it takes out of the member set.
CHANGES: dict[str, Callable[[Balancer], str | None]] = {
    "add": lambda b: b.add_backend(SVC, POOL[3]),
    "remove another": lambda b: b.remove_backend(SVC, START[2].ip) or START[2].ip,
    "weight": lambda b: b.set_weight(SVC, START[0].ip, 5),
    "drain": lambda b: b.set_drain(SVC, START[1].ip, True),
    "reload": lambda b: b.load([SVC], [POOL[4], START[1], START[0]]) and START[2].ip,
}


@pytest.fixture(scope="module")
def lb() -> Iterator[tuple[Balancer, int]]:
    with attached("l4r") as made:
        yield made


_BASES = itertools.count(0, 1000)
Bed = tuple[Balancer, int, range]


@pytest.fixture
def fresh(lb: tuple[Balancer, int]) -> Bed:
    """The service with its three first backends, and ports nobody used."""
    bal, fd = lb
    bal.load([SVC], START)
    base = next(_BASES)
    return bal, fd, range(PORTS.start + base, PORTS.stop + base)


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_reused_five_tuple_follows_its_new_syn(fresh: Bed, change: str) -> None:
    bal, fd, ports = fresh
    old = {p: [sent_to(fd, p, f) for f in (SYN, ACK, PSH_ACK, RST)] for p in ports}
    assert all(len(set(b)) == 1 for b in old.values())
    gone = CHANGES[change](bal)
    now = members(bal)
    moved = 0
    for p in ports:
        got = [sent_to(fd, p, f) for f in (SYN, ACK, PSH_ACK, PSH_ACK)]
        assert len(set(got)) == 1, f"{change}: port {p} went to {got}"
        assert got[0] in now and got[0] != gone
        moved += got[0] != old[p][0]
    # The case only proves something if the change moved some 5-tuples.
    assert moved, f"{change} moved no 5-tuple"


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_between_syn_and_ack_does_not_move_the_connection(fresh: Bed, change: str) -> None:
    bal, fd, ports = fresh
    syn = {p: sent_to(fd, p, SYN) for p in ports}
    gone = CHANGES[change](bal)
    now = members(bal)
    for p in ports:
        got = [sent_to(fd, p, f) for f in (ACK, PSH_ACK, ACK)]
        assert len(set(got)) == 1, f"{change}: port {p} went to {syn[p]}, then {got}"
        if syn[p] == gone:
            assert got[0] in now and got[0] != gone
        else:
            assert got[0] == syn[p], f"{change}: port {p}"


def test_a_retransmitted_syn_goes_where_the_first_went(fresh: Bed) -> None:
    bal, fd, ports = fresh
    first = {p: sent_to(fd, p, SYN) for p in ports}
    bal.add_backend(SVC, POOL[3])
    bal.set_weight(SVC, START[0].ip, 7)
    for p in ports:
        assert [sent_to(fd, p, f) for f in (SYN, SYN, ACK, PSH_ACK)] == [first[p]] * 4


def test_two_changes_between_syn_and_ack(fresh: Bed) -> None:
    """The first packet's pick, not an old ring, carries the connection: any
    number of reloads may land between SYN and ACK."""
    bal, fd, ports = fresh
    syn = {p: sent_to(fd, p, SYN) for p in ports}
    bal.add_backend(SVC, POOL[3])
    bal.add_backend(SVC, POOL[4])
    bal.set_weight(SVC, START[1].ip, 9)
    for p in ports:
        assert sent_to(fd, p, ACK) == syn[p] == sent_to(fd, p, PSH_ACK)


@pytest.mark.parametrize("how", ["drain", "weight 0"])
def test_a_repeated_syn_leaves_a_backend_that_takes_no_new_connections(
    fresh: Bed, how: str
) -> None:
    """A client retrying a server that never answers, from the same port (or
    behind NAT), is rebalanced once the operator drains it: a repeated SYN
    is a new attempt, not an established connection.  An ACK still follows
    its SYN's backend, drained or not."""
    bal, fd, ports = fresh
    first = {p: sent_to(fd, p, SYN) for p in ports}  # pending: the pick
    half = list(ports)[: len(ports) // 2]
    for p in half:
        assert sent_to(fd, p, SYN) == first[p]  # stored, in the SYN state
    victim = START[0].ip
    mine = [p for p in ports if first[p] == victim]
    assert mine
    if how == "drain":
        bal.set_drain(SVC, victim, True)
    else:
        bal.set_weight(SVC, victim, 0)
    acked = mine[0]
    assert sent_to(fd, acked, ACK) == victim, "a handshake in progress keeps its backend"
    for p in ports:
        if p == acked:
            continue
        got = sent_to(fd, p, SYN)
        assert got != victim, f"{how}: a repeated SYN from port {p} still went to {victim}"
        if first[p] != victim:
            assert got == first[p]
        assert sent_to(fd, p, ACK) == got
