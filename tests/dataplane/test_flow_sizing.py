"""The flow table sized by the operator at attach, through the real tools and
the real program: the maps made at the size asked, the size recorded, the
data plane indexing within it, and a balancer whose config does not record
its size (pins made before sizing existed) still tracking its flows."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from l4lb_tui import abi, bpfsys
from l4lb_tui.abi import FlowStat, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination
from tests.conftest import veth_netns

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).parents[2]
SVC = ServiceKey("10.0.0.4", 9000, 17)
DESTS = [
    Destination("10.0.0.11", "02:00:00:00:00:0b"),
    Destination("10.0.0.12", "02:00:00:00:00:0c"),
]


def frame(i: int) -> bytes:
    return bytes(
        Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:04")
        / IP(src=f"10.9.{i // 250}.{i % 250 + 1}", dst=SVC.vip)
        / UDP(sport=20000 + i, dport=SVC.port)
        / Raw(b"x")
    )


def l4lb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )


@contextlib.contextmanager
def sized(flows: int | None) -> Iterator[tuple[Balancer, int]]:
    with veth_netns("h17bs") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", flows=flows)
        bal.load([SVC], DESTS)
        fd = bpfsys.obj_get(bal.prog_pin)
        try:
            yield bal, fd
        finally:
            os.close(fd)
            bal.detach()


def map_entries(bal: Balancer, name: str) -> int:
    with bpfsys.opened(bpfsys.obj_get(bal.map_pin(name))) as fd:
        return bpfsys.map_info(fd).max_entries


def hits(bal: Balancer, fd: int, n: int) -> int:
    """Flow-table hits of n flows' third packets (the first two mark, then store)."""
    frames = [frame(i) for i in range(n)]
    for _ in range(2):
        for f in frames:
            bpfsys.test_run(fd, f)
    before = bal.counters().flows.get(FlowStat.HIT, 0)
    for f in frames:
        bpfsys.test_run(fd, f)
    return bal.counters().flows.get(FlowStat.HIT, 0) - before


def test_the_maps_take_the_size_asked_and_the_config_records_it() -> None:
    with sized(1 << 16) as (bal, _):
        assert map_entries(bal, "flows") == 1 << 16
        assert map_entries(bal, "flow_tags") == (1 << 16) // abi.FLOW_TAGS_PER_ENTRY
        assert map_entries(bal, "flow_picks") == (1 << 16) // abi.FLOW_PICKS_PER_ENTRY
        assert bal.config().flow_log2 == 16
        assert bal.flow_slots() == 1 << 16


def test_a_small_table_is_indexed_within_its_size() -> None:
    # With the object's 2^19 indexing, a 4096-slot table would find no tags
    # for almost every flow: all untracked, no hits.
    with sized(1 << 12) as (bal, fd):
        found = hits(bal, fd, 40)
        assert found >= 36  # a few may share a 2-way bucket with two others
        occ = bal.counters().occupancy
        assert occ is not None and occ.capacity == 1 << 12 and not occ.sampled
        assert occ.entries == found  # each flow that hits stores one entry


def test_a_large_table_is_counted_from_part_of_it() -> None:
    with sized(1 << 22) as (bal, fd):
        hits(bal, fd, 200)
        occ = bal.counters().occupancy
        assert occ is not None and occ.capacity == 1 << 22 and occ.sampled
        assert 0 <= occ.entries <= 200 * 8  # an estimate from a quarter of the tags


def test_a_config_that_does_not_record_the_size_reads_as_the_old_one() -> None:
    # Pins made before sizing: flags bits 8..12 are 0, the maps 2^19.
    with sized(abi.FLOW_SLOTS) as (bal, fd):
        cfg = bal.config()
        legacy = abi.Config(cfg.saddr, cfg.ifmac, cfg.flags & 0xFF, cfg.mtu, cfg.version, cfg.ttl)
        bal.bpftool.map_update(bal.map_pin("config"), abi.u32(0), legacy.pack())
        assert bal.config().flow_log2 == 0
        assert bal.flow_slots() == abi.FLOW_SLOTS
        assert hits(bal, fd, 40) >= 36


def test_the_cli_says_the_memory_first_and_refuses_a_resize() -> None:
    with veth_netns("h17bc") as (ns, dev, _):
        done = l4lb("--netns", ns, "attach", "-i", dev, "--flows", "64k")
        assert done.returncode == 0, done.stderr
        first, second, third = done.stdout.splitlines()[:3]
        assert first.startswith("flow table: 65,536 flows (64k), 2 MiB of kernel memory")
        assert second.startswith("IPv6 flow table: 65,536 flows (64k), 4 MiB of kernel memory")
        assert third.startswith("attached to")
        again = l4lb("--netns", ns, "attach", "-i", dev, "--flows", "128k")
        assert again.returncode == 2
        assert again.stderr.count("\n") == 1
        assert "runs with a flow table of 65,536 flows (64k)" in again.stderr
        assert l4lb("--netns", ns, "attach", "-i", dev, "--flows", "64k").returncode == 0
        assert l4lb("--netns", ns, "detach", "-i", dev).returncode == 0
