"""Backend changes under real traffic in the lab (issue: change under traffic).

A keep-alive HTTP connection through the VIP must keep its backend through
every change; a flood must see no drop and no packet to a backend outside
the old and the new set while the set is reloaded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_conns import Bed, KeepAlive, loaded

from l4lb_tui.abi import Reason, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination, read_destinations
from l4lb_tui.lab import Lab

pytestmark = pytest.mark.kernel
SAMPLE = Path(__file__).parents[1] / "data" / "512_destinations.csv"


@pytest.fixture(scope="module")
def lb(lab: Lab) -> Iterator[Bed]:
    with loaded(lab) as bed:
        yield bed


def others(real: list[Destination], n: int) -> list[Destination]:
    """Fill-in backends from the seed's sample: no server behind them."""
    taken = {d.ip for d in real}
    return [d for d in read_destinations(SAMPLE) if d.ip not in taken][:n]


def test_keepalive_survives_every_kind_of_change(
    lb: tuple[Lab, Balancer, list[ServiceKey], list[Destination]],
) -> None:
    lab, bal, services, real = lb
    http_svc = services[0]
    bal.load(services, real)
    ka = KeepAlive(lab)
    mine = ka.get()
    addr = {n.name: n.addr for n in lab.backend_nodes}[mine]
    other = next(d for d in real if d.ip != addr)
    steps = []

    bal.remove_backend(http_svc, other.ip)
    steps.append(("remove a different backend", ka.get()))
    bal.add_backend(http_svc, Destination("10.0.0.99", "02:00:00:00:00:99"))
    steps.append(("add a backend", ka.get()))
    bal.load([http_svc], real + others(real, 512 - len(real)))
    steps.append(("load 512 destinations", ka.get()))
    bal.load([http_svc], real + others(real, 256 - len(real)))
    steps.append(("reload to half of them", ka.get()))
    bal.set_drain(http_svc, addr, True)
    steps.append(("drain its own backend", ka.get()))
    print("\nKEEPALIVE " + "; ".join(f"{what}: {who}" for what, who in steps))
    assert all(who == mine for _, who in steps), steps
    assert ka.conn.sock is not None and ka.conn.sock.getsockname() == ka.local
    ka.conn.close()
    bal.load(services, real)


def test_reload_under_flood_drops_nothing(
    lb: tuple[Lab, Balancer, list[ServiceKey], list[Destination]],
) -> None:
    lab, bal, services, real = lb
    set_a = real + others(real, 100)
    set_b = real[:2] + others(real, 60)
    bal.load(services, set_a)
    allowed = {b.index for s in bal.state().services for b in s.backends}
    before = bal.counters()
    result: dict[str, object] = {}
    flood = threading.Thread(target=lambda: result.update(report=lab.flood(6.0)))
    flood.start()
    reloads = 0
    while flood.is_alive() and reloads < 8:
        bal.load(services, set_b if reloads % 2 == 0 else set_a)
        allowed |= {b.index for s in bal.state().services for b in s.backends}
        reloads += 1
    flood.join()
    after = bal.counters()
    drops = {r.label: after.reasons[r][0] - before.reasons[r][0] for r in Reason if r.is_drop}
    grew = {i for i in after.backends if after.backends[i][0] > before.backends.get(i, (0, 0))[0]}
    balanced = sum(after.backends[i][0] - before.backends.get(i, (0, 0))[0] for i in grew)
    print(
        f"\nFLOOD {reloads} reloads during the flood: {balanced:,} packets balanced to "
        f"{len(grew)} backends, drops {drops}, to unknown backends {len(grew - allowed)}"
    )
    assert reloads >= 3
    assert balanced > 10_000
    assert all(v == 0 for v in drops.values()), drops
    assert not grew - allowed
    bal.load(services, real)
