"""A reload at the generation's wrap keeps every established flow.

Before, backends carried 16-bit generations and the program accepted a
flow's backend at the live generation or the next, `(u16)(gen + 1)`: 0 after
65535, while the control plane wrapped 65535 to 1.  For one reload in every
65,535, every surviving flow looked stale while the reload ran, and flows
whose entry disagreed with the ring moved.  Membership no longer rides on
generations; this test holds a reload at its riskiest moment (its entries
written, its flip not yet) with the service's generation at each wrap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from l4lb_tui import abi, bpfsys
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination, format_csv
from tests.dataplane.conftest import attached
from tests.killed_reload import kill_group, paused_reload, wait_paused

pytestmark = pytest.mark.kernel

SVC = abi.ServiceKey("10.0.0.4", 9000, abi.PROTO_UDP)
POOL = [Destination(f"10.2.0.{i}", f"02:00:00:02:00:{i:02x}") for i in range(1, 6)]


def frame(i: int) -> bytes:
    return bytes(
        Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:04")
        / IP(src=f"10.9.{i // 250}.{i % 250 + 1}", dst=SVC.vip)
        / UDP(sport=10000 + i, dport=SVC.port)
        / Raw(b"x")
    )


def sent(fd: int, frames: list[bytes]) -> list[str]:
    out = []
    for f in frames:
        res = bpfsys.test_run(fd, f)
        assert res.verdict == "XDP_TX"
        out.append(str(Ether(res.data)[IP].dst))
    return out


@pytest.fixture(scope="module")
def lb() -> Iterator[tuple[Balancer, int]]:
    with attached("l4g") as made:
        yield made


@pytest.mark.parametrize("gen", [0xFFFF, abi.GEN_MAX], ids=["16-bit wrap", "32-bit wrap"])
def test_flows_survive_a_reload_held_at_the_wrap(
    lb: tuple[Balancer, int], tmp_path: Path, gen: int
) -> None:
    bal, fd = lb
    bal.load([SVC], POOL[:3])
    frames = [frame(i) for i in range(600)]
    first = sent(fd, frames)
    assert sent(fd, frames) == first  # stored by their second packet
    bal.add_backend(SVC, POOL[3])  # the ring moves some; the table keeps them
    assert sent(fd, frames) == first
    svc = next(s.value for s in bal.state().services if s.key == SVC)
    at_wrap = dataclasses.replace(svc, gen=gen).pack_live()
    bal.bpftool.map_update(bal.map_pin("svc_live"), abi.u32(svc.svc_id), at_wrap)

    csv = tmp_path / "next.csv"
    csv.write_text(format_csv([*POOL[:4], POOL[4]]))
    ns = bal.netlink.netns or ""
    args = ["--netns", ns, "map", "-i", bal.ifname, "-f", str(csv), "--vip", "10.0.0.4:9000/udp"]
    proc, paused = paused_reload(args, 0.9, tmp_path, resume=0.5)
    try:
        cut = wait_paused(proc, paused)
        assert cut is not None
        assert sent(fd, frames) == first, "flows moved while the reload ran"
        proc.wait(timeout=30)
        assert proc.returncode == 0
    finally:
        kill_group(proc)
    assert sent(fd, frames) == first, "flows moved after the reload"
    after = next(s.value for s in bal.state().services if s.key == SVC)
    assert after.gen == abi.next_generation(gen) and after.gen != 0
