"""The promise, tested against a model: backend changes never break a
connection.

From a seed it prints (L4LB_MODEL_SEED replays one), a random run
interleaves new connections (some on the 5-tuples of closed ones), their
packets, closes, and every kind of backend change: add, remove, weight,
drain, undrain, full reloads, and reloads killed at random points of their
batch with their whole process group.  Packets go through the real program
(BPF_PROG_TEST_RUN), changes through the real control plane and CLI.  After
every step:
- no packet goes to a backend that is not a member;
- every packet of a connection goes where its SYN went, unless that backend
  was removed (a drained one keeps its connections);
- a new connection never starts on a drained backend;
- the members the maps hold are exactly the model's (`stats` agrees too).

Run for IPv4 and for IPv6 (whose flow table keeps its own entries, pending
from a first packet as IPv4's tags are, l4lb_flow6.h).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from l4lb_tui import abi, bpfsys
from l4lb_tui.balancer import Balancer
from l4lb_tui.control.attaching import kernel_hz
from l4lb_tui.destinations import Destination, format_csv
from tests.dataplane.conftest import attached
from tests.killed_reload import ROOT, cut_reload

pytestmark = pytest.mark.kernel


@dataclass(frozen=True)
class Family:
    """What the run takes from its address family."""

    svc: abi.ServiceKey
    spec: str
    pool: list[Destination]
    ip: type[IP] | type[IPv6]

    @property
    def mac(self) -> dict[str, str]:
        return {d.ip: d.mac for d in self.pool}

    def client(self, n: int) -> str:
        if self.ip is IPv6:
            return f"fd00:9::{n // 250 % 250:x}:{n % 250 + 1:x}"
        return f"10.9.{n // 250 % 250}.{n % 250 + 1}"


V4 = Family(
    abi.ServiceKey("10.0.0.4", 8080, abi.PROTO_TCP),
    "10.0.0.4:8080/tcp",
    [Destination(f"10.2.0.{i}", f"02:00:00:02:00:{i:02x}") for i in range(1, 13)],
    IP,
)
V6 = Family(
    abi.ServiceKey("fd00::4", 8080, abi.PROTO_TCP),
    "[fd00::4]:8080/tcp",
    [Destination(f"fd00:2::{i:x}", f"02:00:00:02:00:{i:02x}") for i in range(1, 13)],
    IPv6,
)
STEPS = int(os.environ.get("L4LB_MODEL_STEPS", "500"))


# How long a first packet's pick is trusted at least (2^15 jiffies, one
# epoch): a second packet later than that is balanced afresh.
PICK_TRUSTED = (1 << 15) / kernel_hz()


@dataclass
class Conn:
    backend: str
    exempt: bool = False  # its backend was removed: it may go anywhere now
    open: bool = True
    since: float = field(default_factory=time.monotonic)  # its SYN
    pending: bool = True  # only its SYN seen yet


@dataclass
class Model:
    members: dict[str, tuple[int, bool]]  # ip -> (weight, drained)
    mac: dict[str, str]
    conns: dict[tuple[str, int], Conn] = field(default_factory=dict)
    closed: list[tuple[str, int]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def dests(self) -> list[Destination]:
        return [Destination(ip, self.mac[ip], w, d) for ip, (w, d) in self.members.items()]

    def adopt(self, members: dict[str, tuple[int, bool]]) -> None:
        """A new member set: connections on removed backends are exempt."""
        for c in self.conns.values():
            if c.backend not in members:
                c.exempt = True
        self.members = dict(members)


class Run:
    def __init__(
        self, bal: Balancer, fd: int, rng: random.Random, tmp: Path, fam: Family = V4
    ) -> None:
        self.bal, self.fd, self.rng, self.tmp, self.fam = bal, fd, rng, tmp, fam
        self.model = Model({}, fam.mac)
        self.model.adopt({d.ip: (d.weight, d.drained) for d in fam.pool[:4]})
        bal.load([fam.svc], self.model.dests())
        self.next_port = 1000
        # Start just short of the generation's wrap, so that every run
        # crosses it (GEN_MAX, then 1: 0 would mean no service).
        svc = bal.state().services[0].value
        near_wrap = dataclasses.replace(svc, gen=abi.GEN_MAX - 2).pack_live()
        bal.bpftool.map_update(bal.map_pin("svc_live"), abi.u32(svc.svc_id), near_wrap)

    # -- packets ------------------------------------------------------------

    def send(self, conn: tuple[str, int], flags: str, held: bool = False) -> str | None:
        """Where the packet went; None for a drop, which only a packet the
        ring must place (not `held` by the table) may get, and only while
        every member is drained."""
        res = bpfsys.test_run(self.fd, self.frame(*conn, flags))
        if res.verdict == "XDP_DROP" and not held:
            assert not any(w and not d for w, d in self.model.members.values()), conn
            return None
        assert res.verdict == "XDP_TX", f"{conn} {flags}: {res.verdict}"
        got = str(Ether(res.data)[self.fam.ip].dst)
        assert got in self.model.members, f"{conn} {flags} went to non-member {got}"
        return got

    def frame(self, src: str, sport: int, flags: str) -> bytes:
        svc = self.fam.svc
        return bytes(
            Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:04")
            / self.fam.ip(src=src, dst=svc.vip)
            / TCP(sport=sport, dport=svc.port, flags=flags)
        )

    def new_conn(self) -> None:
        m = self.model
        if m.closed and self.rng.random() < 0.4:
            tup = m.closed.pop(self.rng.randrange(len(m.closed)))
        else:
            self.next_port += 1
            tup = (self.fam.client(self.next_port), self.next_port)
        got = self.send(tup, "S")
        if got is None:
            return
        weight, drained = m.members[got]
        assert weight and not drained, f"new connection {tup} started on drained {got}"
        m.conns[tup] = Conn(got)
        m.log.append(f"syn {tup} -> {got}")

    def packet(self, close: str | None = None) -> None:
        m = self.model
        open_ = [t for t, c in m.conns.items() if c.open]
        if not open_:
            return self.new_conn()
        tup = self.rng.choice(open_)
        conn = m.conns[tup]
        flags = close or self.rng.choice(["A", "PA", "S"] if conn.backend else ["A"])
        if flags == "S" and not self.retransmittable(tup):
            flags = "A"
        if conn.pending and flags != "S":
            conn.pending = False
            if time.monotonic() - conn.since > PICK_TRUSTED:
                conn.exempt = True
        got = self.send(tup, flags, held=not conn.exempt)
        if not conn.exempt:
            assert got == conn.backend, f"{tup} {flags}: {got}, its SYN went to {conn.backend}"
        conn.backend = got or conn.backend
        if close:
            conn.open = False
            m.closed.append(tup)
        m.log.append(f"{flags} {tup} -> {got}")
        return None

    def retransmittable(self, tup: tuple[str, int]) -> bool:
        """A SYN may be repeated only before the connection's next packet."""
        return self.model.log[-1].startswith(f"syn {tup}")

    # -- changes -----------------------------------------------------------

    def change(self) -> None:
        m, rng, svc, mac = self.model, self.rng, self.fam.svc, self.fam.mac
        new = dict(m.members)
        outside = [d.ip for d in self.fam.pool if d.ip not in new]
        kind = rng.choice(["add", "remove", "weight", "drain", "reload", "kill"])
        if kind == "add" and outside:
            ip = rng.choice(outside)
            new[ip] = (rng.randint(1, 5), False)
            self.bal.add_backend(svc, Destination(ip, mac[ip], new[ip][0]))
        elif kind == "remove" and len(new) > 1:
            ip = rng.choice(list(new))
            del new[ip]
            self.bal.remove_backend(svc, ip)
        elif kind == "weight":
            ip = rng.choice(list(new))
            new[ip] = (rng.randint(0, 5), new[ip][1])
            self.bal.set_weight(svc, ip, new[ip][0])
        elif kind == "drain":
            ip = rng.choice(list(new))
            drained = not new[ip][1]
            weight = new[ip][0] if new[ip][0] or drained else 1
            new[ip] = (weight, drained)
            self.bal.set_drain(svc, ip, drained)
        elif kind in ("reload", "kill"):
            new = self.random_set()
            if kind == "kill":
                return self.killed_reload(new)
            self.bal.load([svc], [Destination(ip, mac[ip], w, d) for ip, (w, d) in new.items()])
        else:
            return None
        m.log.append(f"{kind} -> {sorted(new.items())}")
        m.adopt(new)
        return None

    def random_set(self) -> dict[str, tuple[int, bool]]:
        pool = self.fam.pool
        picked = self.rng.sample(pool, self.rng.randint(1, len(pool)))
        return {d.ip: (self.rng.randint(0, 4), self.rng.random() < 0.1) for d in picked}

    def killed_reload(self, new: dict[str, tuple[int, bool]]) -> None:
        csv = self.tmp / "next.csv"
        mac = self.fam.mac
        csv.write_text(format_csv(Destination(ip, mac[ip], w, d) for ip, (w, d) in new.items()))
        ns = self.bal.netlink.netns
        assert ns
        fraction = self.rng.random()
        cut = cut_reload(
            ["--netns", ns, "map", "-i", self.bal.ifname, "-f", str(csv), "--vip", self.fam.spec],
            fraction,
            self.tmp,
        )
        found = {d.ip: (d.weight, d.drained) for d in self.bal.members(self.fam.svc)}
        # The file drains by weight 0.
        as_file = {ip: (0, False) if d else (w, False) for ip, (w, d) in new.items()}
        old = self.model.members
        assert found in (old, as_file), f"a mix after a reload cut at {cut}: {found}"
        self.model.log.append(f"kill at {cut} -> {'new' if found == as_file else 'old'}")
        self.model.adopt(found)

    def check_members(self, with_stats: bool) -> None:
        found = {d.ip: (d.weight, d.drained) for d in self.bal.members(self.fam.svc)}
        assert found == self.model.members
        if not with_stats:
            return
        ns = self.bal.netlink.netns
        assert ns
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "l4lb_tui.cli", "--netns", ns, "stats", "-i", self.bal.ifname,
             "--once", "--json"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        rows = {b["ip"] for b in json.loads(out)["backends"]}
        assert rows == set(self.model.members), "stats disagrees with the maps"

    def step(self, i: int) -> None:
        roll = self.rng.random()
        if roll < 0.25:
            self.new_conn()
        elif roll < 0.7:
            self.packet()
        elif roll < 0.8:
            self.packet(close=self.rng.choice(["FA", "R", "RA"]))
        else:
            self.change()
            self.check_members(with_stats=False)
        # Only a change writes the members; the packets' steps are checked
        # now and then all the same (a read costs ~40 ms, most of a step).
        if i % 10 == 0:
            self.check_members(with_stats=i % 50 == 0)


@pytest.fixture(scope="module")
def bed() -> Iterator[tuple[Balancer, int]]:
    with attached("l4m") as made:
        yield made


@pytest.fixture(scope="module")
def bed6() -> Iterator[tuple[Balancer, int]]:
    with attached("d17m", saddr6="fd00::1") as made:
        yield made


def test_connections_never_break(bed: tuple[Balancer, int], tmp_path: Path) -> None:
    _model_run(bed, tmp_path, V4)


def test_v6_connections_never_break(bed6: tuple[Balancer, int], tmp_path: Path) -> None:
    _model_run(bed6, tmp_path, V6)


def _model_run(bed: tuple[Balancer, int], tmp_path: Path, fam: Family) -> None:
    seed = int(os.environ.get("L4LB_MODEL_SEED", time.time_ns() % 1_000_000))
    print(f"\nMODEL seed {seed} (L4LB_MODEL_SEED={seed} replays it), {STEPS} steps, {fam.spec}")
    bal, fd = bed
    run = Run(bal, fd, random.Random(seed), tmp_path, fam)
    try:
        for i in range(STEPS):
            run.step(i)
    except AssertionError:
        print("\n".join(run.model.log[-40:]))
        raise
    assert bal.state().services[0].value.gen < abi.GEN_MAX - 2, "the generation did not wrap"
    kinds = [e.split()[0] for e in run.model.log]
    print("MODEL steps by kind:", {k: kinds.count(k) for k in sorted(set(kinds))})
