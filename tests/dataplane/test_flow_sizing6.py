"""The IPv6 flow table sized by the operator (t17 HIGH-2), through the real
CLI and program: `attach --flows6` makes flows6 at the size asked (its
memory said first), the config records it and the data plane indexes
within it; `stats` shows its occupancy and untracked rate beside IPv4's,
and a full v6 table is warned of by name with the option that fixes it."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

import pytest

from l4lb_tui import bpfsys, flowsize
from l4lb_tui.abi import FlowStat
from l4lb_tui.balancer import Balancer
from tests.conftest import veth_netns
from tests.dataplane.test_flow_sizing import l4lb, map_entries
from tests.dataplane.test_packets6 import B6, SADDR6, udp6

pytestmark = pytest.mark.kernel

SMALL = 1 << 12


def _send(fd: int, count: int, times: int, base: str = "fd00:9::") -> None:
    """`count` UDP flows from distinct sources, `times` packets each, one
    flow after another."""
    frame = bytearray(udp6(sport=7))
    first = int(ipaddress.IPv6Address(base))
    for i in range(count):
        frame[22:38] = (first + i).to_bytes(16, "big")
        for _ in range(times):
            assert bpfsys.test_run(fd, bytes(frame)).verdict == "XDP_TX"


def _stats(ns: str, dev: str) -> dict[str, object]:
    done = l4lb("--netns", ns, "stats", "-i", dev, "--once", "--json")
    assert done.returncode == 0, done.stderr
    doc: dict[str, object] = json.loads(done.stdout)
    return doc


def test_flows6_sizes_the_ipv6_table_and_stats_show_it_full(tmp_path: Path) -> None:
    with veth_netns("d17s") as (ns, dev, _):
        done = l4lb("--netns", ns, "attach", "-i", dev, "--flows6", "4k", "--source6", SADDR6)
        assert done.returncode == 0, done.stderr
        said = done.stdout.splitlines()
        assert said[1] == (
            "IPv6 flow table: 4,096 flows (4k), 276 KiB of kernel memory "
            "(entries 256 KiB, tags 4 KiB, picks 16 KiB)"
        )
        bal = Balancer(dev, netns=ns)
        assert map_entries(bal, "flows6") == SMALL
        assert map_entries(bal, "flow6_tags") == SMALL // 64  # a line of tags an entry
        assert map_entries(bal, "flow6_picks") == SMALL // 16  # a line of 32-bit picks
        assert flowsize.flow6_log2(bal.config().flags) == 12
        assert bal.flow_slots("flows6") == SMALL
        assert bal.flow_slots() == 1 << 19, "the IPv4 table keeps its own size"
        loaded = l4lb(
            "--netns", ns, "map", "-i", dev, "-f", _csv(tmp_path), "--vip", "[fd00::4]:9000/udp"
        )
        assert loaded.returncode == 0, loaded.stderr
        fd = bpfsys.obj_get(bal.prog_pin)
        try:
            # 40 flows of three packets: new, stored, hit within the small table.
            _send(fd, 40, 3, "fd00:8::")
            flows6 = bal.counters().flows6
            assert (flows6[FlowStat.NEW], flows6[FlowStat.STORED]) == (40, 40)
            assert flows6[FlowStat.HIT] == 40
            assert bal.counters().flows[FlowStat.NEW] == 0, "v6 outcomes are IPv6's own"
            # Twice the table in established (two-packet) flows: it fills.
            _send(fd, 2 * SMALL, 2)
        finally:
            os.close(fd)
        doc = _stats(ns, dev)
        table6 = doc["flow_table6"]
        assert isinstance(table6, dict)
        assert table6["capacity"] == SMALL and table6["entries"] > SMALL * 0.8, table6
        warning = str(doc["warning"])
        assert warning.startswith("IPv6 flow table"), warning
        assert "larger --flows6" in warning
        text = l4lb("--netns", ns, "stats", "-i", dev, "--once").stdout
        assert "[Flow table v6] " in text and "of 4,096" in text, text
        again = l4lb("--netns", ns, "attach", "-i", dev, "--flows6", "8k")
        assert again.returncode == 2
        assert "runs with an IPv6 flow table of 4,096 flows (4k)" in again.stderr
        assert again.stderr.count("\n") == 1
        assert l4lb("--netns", ns, "detach", "-i", dev).returncode == 0


def _csv(tmp: Path) -> str:
    path = tmp / "b6.csv"
    path.write_text("".join(f"{b.ip}, {b.mac}\n" for b in B6))
    return str(path)
