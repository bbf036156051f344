"""IPv6 through the dual-stack lab: real HTTP and UDP over IPv6 sockets from
the client, through the balancer (ip6ip6), decapsulated by the backends'
XDP program and answered from the IPv6 VIP; established IPv6 connections
through add, remove, drain and reload; and reloads killed mid-batch, which
leave the old or the new set (tests/lab/test_killed_reloads_e2e.py for IPv4).
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_conns import Bed, KeepAlive, loaded

from l4lb_tui.abi import PROTO_TCP, PROTO_UDP, ServiceKey
from l4lb_tui.destinations import Destination, format_csv, read_destinations
from l4lb_tui.lab import Lab, faults
from tests.killed_reload import ROOT, cut_reload

pytestmark = pytest.mark.kernel
ROUNDS = int(os.environ.get("L4LB_KILL6_ROUNDS", "8"))


@pytest.fixture(scope="module")
def bed(lab: Lab) -> Iterator[Bed]:
    with loaded(lab, ipv6=True) as made:
        yield made


def KeepAlive6(lab: Lab) -> KeepAlive:
    return KeepAlive(lab, ipv6=True)


class Udp6:
    """One connected UDP socket (one 5-tuple) over IPv6: who echoes it."""

    def __init__(self, lab: Lab) -> None:
        self.sock = lab.socket(lab.client.ns, socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.settimeout(3)
        self.sock.connect((lab.vip6, lab.udp_port))

    def get(self) -> str:
        token = os.urandom(8).hex().encode()
        self.sock.send(token)
        name, _, echoed = self.sock.recv(2048).partition(b" ")
        assert echoed == token
        return name.decode()


def made_up6(group: int, n: int) -> list[Destination]:
    """Backends with no server behind them, fd00:GROUP::/64."""
    return [
        Destination(
            f"fd00:{group:x}::{i + 1:x}", f"02:{group:02x}:00:00:{i // 256:02x}:{i % 256:02x}"
        )
        for i in range(n)
    ]


def test_ipv6_http_and_udp_answered_by_every_backend(bed: Bed) -> None:
    lab, bal, _, _ = bed
    report = lab.traffic(count=30, target=lab.vip6)
    print(f"\nIPV6 TRAFFIC {report.lines()}")
    assert report.udp.answered == report.udp.sent == 30
    assert report.http.answered == report.http.sent == 30
    names = {n.name for n in lab.backend_nodes}
    assert set(report.udp.by_backend) == set(report.http.by_backend) == names
    # Dual-stack: IPv4 services beside the IPv6 ones answer too.
    v4 = [
        ServiceKey(lab.vip, lab.http_port, PROTO_TCP),
        ServiceKey(lab.vip, lab.udp_port, PROTO_UDP),
    ]
    bal.load(v4, list(read_destinations(lab.csv_path)))
    try:
        both = lab.traffic(count=10, target=lab.vip)
        assert both.udp.answered == both.http.answered == 10
        again = lab.traffic(count=10, target=lab.vip6)
        assert again.udp.answered == again.http.answered == 10
    finally:
        for key in v4:
            bal.remove_service(key)


def test_ipv6_connections_keep_their_backend_through_changes(bed: Bed) -> None:
    lab, bal, services, real = bed
    http_svc, udp_svc = services
    bal.load(services, real)
    ka, udp = KeepAlive(lab, ipv6=True), Udp6(lab)
    mine, mine_udp = ka.get(), udp.get()
    addr = {n.name: n.addr6 for n in lab.backend_nodes}
    other = next(d for d in real if d.ip != addr[mine])
    steps = []
    bal.remove_backend(http_svc, other.ip)
    steps.append(("remove a different backend", ka.get(), udp.get()))
    bal.add_backend(http_svc, Destination("fd00::99", "02:00:00:00:00:99"))
    bal.add_backend(udp_svc, Destination("fd00::99", "02:00:00:00:00:99"))
    steps.append(("add a backend", ka.get(), udp.get()))
    bal.load(services, real + made_up6(7, 500))
    steps.append(("reload to 503 backends", ka.get(), udp.get()))
    bal.load(services, real + made_up6(8, 200))
    steps.append(("reload to another 203", ka.get(), udp.get()))
    bal.set_drain(http_svc, addr[mine], True)
    bal.set_drain(udp_svc, addr[mine_udp], True)
    steps.append(("drain their own backends", ka.get(), udp.get()))
    print("\nIPV6 KEEPALIVE " + "; ".join(f"{w}: {h} {u}" for w, h, u in steps))
    assert all((h, u) == (mine, mine_udp) for _, h, u in steps), steps
    assert ka.conn.sock is not None and ka.conn.sock.getsockname() == ka.local
    ka.conn.close()
    udp.sock.close()
    bal.load(services, real)
    fresh = lab.traffic(count=10, target=lab.vip6)
    assert fresh.http.answered == fresh.udp.answered == 10


def l4lb(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "--netns", lab.lb_ns, *args],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_killed_ipv6_reloads_leave_the_old_or_the_new_set(bed: Bed, tmp_path: Path) -> None:
    lab, bal, services, real = bed
    svc = services[0]
    bal.load(services, real)
    seed = int(os.environ.get("L4LB_KILL_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    print(f"\nKILLED IPV6 RELOADS seed {seed} (L4LB_KILL_SEED={seed} replays it)")
    files, sets = {}, {}
    for name, group in (("A", 3), ("B", 4)):
        dests = real + made_up6(group, 1500)
        files[name] = tmp_path / f"{name}.csv"
        files[name].write_text(format_csv(dests))
        sets[name] = {d.ip for d in dests}
    conns = [KeepAlive(lab, ipv6=True) for _ in range(4)]
    mine = [c.get() for c in conns]
    spec = f"[{svc.vip}]:{svc.port}/tcp"
    res = l4lb(lab, "map", "-i", lab.lb_ifname, "-f", str(files["A"]), "--vip", spec)
    assert res.returncode == 0, res.stderr
    before, outcomes = sets["A"], []
    cuts = [(k + rng.random()) / ROUNDS for k in range(ROUNDS)]
    rng.shuffle(cuts)
    for i in range(ROUNDS):
        target = "B" if before == sets["A"] else "A"
        args = ["map", "-i", lab.lb_ifname, "-f", str(files[target]), "--vip", spec]
        cut = cut_reload(["--netns", lab.lb_ns, *args], cuts.pop(), tmp_path)
        members = {d.ip for d in bal.members(svc)}
        assert members in (before, sets[target]), f"round {i}: cut at {cut} left a mix"
        outcomes.append(f"cut at {cut}: {'new' if members == sets[target] else 'old'}")
        res = l4lb(lab, *args)
        assert res.returncode == 0, res.stderr
        assert {d.ip for d in bal.members(svc)} == sets[target]
        assert [c.get() for c in conns] == mine, f"round {i}: a connection moved"
        before = sets[target]
    print(f"KILLED IPV6 RELOADS outcomes: {outcomes}")
    assert {o.rsplit(": ", 1)[1] for o in outcomes} == {"old", "new"}, "no cut after a flip"
    for c in conns:
        c.conn.close()
    bal.load(services, real)


def test_apply_resolves_ipv6_backends_by_neighbour_discovery(bed: Bed, tmp_path: Path) -> None:
    """mac = "neighbour" for IPv6 backends: the balancer's IPv6 neighbour
    table, filled by asking (neighbour discovery) from its own link."""
    lab, bal, services, real = bed
    # No running MACs to fall back on: only the neighbour table can tell.
    bal.remove_service(services[0])
    subprocess.run(  # noqa: S603
        ["ip", "-n", lab.lb_ns, "-6", "neigh", "flush", "dev", lab.lb_ifname],
        check=False, capture_output=True,
    )  # fmt: skip
    backends = "".join(f'  {{ ip = "{d.ip}", mac = "neighbour" }},\n' for d in real)
    conf = tmp_path / "l4lb.toml"
    conf.write_text(
        f'[[balancer]]\ninterface = "{lab.lb_ifname}"\nnetns = "{lab.lb_ns}"\n'
        f'source = "{lab.outer_saddr}"\nsource6 = "{lab.outer_saddr6}"\n\n'
        f'[[balancer.service]]\nvip = "[{lab.vip6}]:{lab.http_port}/tcp"\n'
        f"backends = [\n{backends}]\n"
    )
    res = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "apply", "-f", str(conf)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert {(d.ip, d.mac) for d in bal.members(services[0])} == {(d.ip, d.mac) for d in real}
    report = lab.traffic(count=10, target=lab.vip6)
    assert report.http.answered == 10
    bal.load(services, real)


def test_lab_break_vip_takes_the_ipv6_vip_too(bed: Bed) -> None:
    """`lab break --how vip` leaves a backend without either VIP: IPv6
    requests it is sent go unanswered, until `lab fix` puts both back."""
    lab, bal, services, real = bed
    bal.load(services, real)
    try:
        assert faults.break_backend(lab, 1, "vip") == "be1: vip broken"
        assert faults.faults(lab, lab.backend_nodes[0]) == ["vip"]
        broken = lab.traffic(count=30, target=lab.vip6)
        assert "be1" not in broken.backends() and broken.http.answered < 30
    finally:
        faults.fix_backend(lab, 1)
    assert faults.faults(lab, lab.backend_nodes[0]) == []
    fixed = lab.traffic(count=30, target=lab.vip6)
    assert fixed.http.answered == fixed.udp.answered == 30 and "be1" in fixed.backends()


def test_lab_status_shows_both_families(lab: Lab) -> None:
    status = lab.status()
    links = {li.name: li for ns in status.namespaces for li in ns.links}
    be1 = lab.backend_nodes[0]
    assert {f"{be1.addr}/24", f"{be1.addr6}/64"} <= set(links[be1.ifname].addresses)
    assert f"{lab.vip6}/64" in links[lab.lb_ifname].addresses


def test_lab_traffic_cli_sends_over_ipv6(bed: Bed) -> None:
    lab, bal, services, real = bed
    bal.load(services, real)
    cli = [sys.executable, "-m", "l4lb_tui.cli", "lab", "traffic", "--prefix", lab.prefix]
    res = subprocess.run(  # noqa: S603
        [*cli, "-6", "--count", "6", "--json"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["target"] == lab.vip6 and doc["http"]["answered"] == doc["udp"]["answered"] == 6
    res = subprocess.run(  # noqa: S603
        [*cli, "-6", "--flood"], cwd=ROOT, capture_output=True, text=True, check=False, timeout=60
    )
    assert res.returncode == 2 and "IPv4 only" in res.stderr and res.stderr.count("\n") == 1
