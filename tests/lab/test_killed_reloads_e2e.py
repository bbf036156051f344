"""Large reloads killed with their whole process group, under real keep-alive
connections in the lab.

Files A and B: the lab's real backends plus 2,000 made-up ones each (10.3.x.x
and 10.4.x.x).  Thirty times: a reload to A or B is cut at a random point of
its batch and its process group SIGKILLed (half the time by a stand-in
bpftool that pauses mid-batch, half the time at a random moment); then a full
`map` and a `backend add`.  After the kill the service holds exactly the old
or the new file; after the `map`, exactly that file; after the add, that file
plus the added backend, nothing of an aborted file.  The keep-alive
connections on the real backends are answered, by the same backend, all along.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_conns import KeepAlive

from l4lb_tui.abi import PROTO_TCP, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination, format_csv, read_destinations
from l4lb_tui.lab import Lab
from tests.killed_reload import ROOT, cut_reload, kill_group

pytestmark = pytest.mark.kernel
ROUNDS = int(os.environ.get("L4LB_KILL_ROUNDS", "30"))


def made_up(second_octet: int, n: int) -> list[Destination]:
    return [
        Destination(
            f"10.{second_octet}.{i // 250}.{i % 250 + 1}",
            f"02:{second_octet:02x}:00:00:{i // 256:02x}:{i % 256:02x}",
        )
        for i in range(n)
    ]


def l4lb(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "--netns", lab.lb_ns, *args],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def bed(
    lab: Lab, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Balancer, ServiceKey, dict[str, Path], dict[str, set[str]]]]:
    tmp = tmp_path_factory.mktemp("killed")
    real = list(read_destinations(lab.csv_path))
    files, sets = {}, {}
    for name, octet in (("A", 3), ("B", 4)):
        dests = real + made_up(octet, 2000)
        files[name] = tmp / f"{name}.csv"
        files[name].write_text(format_csv(dests))
        sets[name] = {d.ip for d in dests}
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    bal.attach("driver", lab.outer_saddr)
    svc = ServiceKey(lab.vip, lab.http_port, PROTO_TCP)
    bal.load([svc], real)
    try:
        yield bal, svc, files, sets
    finally:
        bal.detach()


def test_killed_reloads_leave_a_whole_file_and_repair(
    lab: Lab,
    bed: tuple[Balancer, ServiceKey, dict[str, Path], dict[str, set[str]]],
    tmp_path: Path,
) -> None:
    bal, svc, files, sets = bed
    seed = int(os.environ.get("L4LB_KILL_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    print(f"\nKILLED RELOADS seed {seed} (L4LB_KILL_SEED={seed} replays it)")
    conns = [KeepAlive(lab) for _ in range(8)]
    mine = [c.get() for c in conns]
    spec = f"{svc.vip}:{svc.port}/tcp"
    began = time.monotonic()
    assert (
        l4lb(lab, "map", "-i", lab.lb_ifname, "-f", str(files["A"]), "--vip", spec).returncode == 0
    )
    span = time.monotonic() - began  # how long a whole reload takes here
    # One cut point from each of equal spans of the batch, in random order:
    # random, yet surely some before and some after the flip.
    cuts = [(k + rng.random()) / (ROUNDS // 2) for k in range(ROUNDS // 2)]
    rng.shuffle(cuts)
    current, outcomes = "A", []
    before = sets["A"]  # the member set a reload starts from
    for i in range(ROUNDS):
        target = rng.choice("AB")
        args = ["map", "-i", lab.lb_ifname, "-f", str(files[target]), "--vip", spec]
        if i % 2:
            cut = cut_reload(["--netns", lab.lb_ns, *args], cuts.pop(), tmp_path)
            how = f"cut at {cut}"
        else:
            proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "l4lb_tui.cli", "--netns", lab.lb_ns, *args],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                start_new_session=True,
            )  # fmt: skip
            # Anywhere in a reload's time: before, in and after its batch.
            time.sleep(rng.uniform(0.3, 1.1) * span)
            kill_group(proc)
            err = proc.stderr.read() if proc.stderr else ""
            how = "killed at random" if proc.returncode < 0 else f"done ({proc.returncode} {err})"
        members = {d.ip for d in bal.members(svc)}
        assert members in (before, sets[target]), (
            f"round {i}: {how} left a mix: {sorted(members ^ before)[:5]} differ from the old set, "
            f"{sorted(members ^ sets[target])[:5]} from the new"
        )
        outcomes.append(f"{how}: {'new' if members == sets[target] else 'old'}")
        current = rng.choice("AB")
        res = l4lb(lab, "map", "-i", lab.lb_ifname, "-f", str(files[current]), "--vip", spec)
        assert res.returncode == 0, res.stderr
        assert {d.ip for d in bal.members(svc)} == sets[current]
        added = f"10.5.{i}.1"
        add = ["backend", "add", "-i", lab.lb_ifname, "--vip", spec, "--ip", added]
        res = l4lb(lab, *add, "--mac", "02:05:00:00:00:01")
        assert res.returncode == 0, res.stderr
        members = {d.ip for d in bal.members(svc)}
        assert members == sets[current] | {added}, (
            f"round {i}: {len(members - sets[current])} extra"
        )
        if i % 5 == 4:
            stats = l4lb(lab, "stats", "-i", lab.lb_ifname, "--once", "--json").stdout
            assert {b["ip"] for b in json.loads(stats)["backends"]} == members
        assert [c.get() for c in conns] == mine, f"round {i}: a connection moved"
        before = members
    print(f"KILLED RELOADS outcomes: {outcomes}")
    assert {o.split(": ")[1] for o in outcomes} == {"old", "new"}, "no kill landed after a flip"
