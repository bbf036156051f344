"""The Prometheus text agrees with `l4lb stats --json`, read from one real
balancer that has balanced, passed and dropped real test-run packets."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from l4lb_tui import bpfsys
from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination
from l4lb_tui.metrics import BalancerSample, render
from tests.dataplane.conftest import attached
from tests.killed_reload import ROOT

pytestmark = pytest.mark.kernel

SVC = ServiceKey("10.0.0.4", 9000, 17)
BACKENDS = [Destination(f"10.2.0.{i}", f"02:00:00:02:00:{i:02x}", i) for i in range(1, 5)]


@pytest.fixture(scope="module")
def lb() -> Iterator[tuple[Balancer, int]]:
    with attached("l4x") as (bal, fd):
        bal.load([SVC], BACKENDS)
        bal.set_drain(SVC, BACKENDS[3].ip, True)
        for i in range(300):
            frame = (
                Ether()
                / IP(src=f"10.9.0.{i % 250 + 1}", dst=SVC.vip)
                / UDP(sport=1000 + i, dport=9000)
            )
            assert bpfsys.test_run(fd, bytes(frame / Raw(b"x" * (i % 40)))).verdict == "XDP_TX"
        bpfsys.test_run(fd, bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="10.0.0.4")))
        yield bal, fd


def test_the_scrape_and_stats_json_agree(lb: tuple[Balancer, int]) -> None:
    bal, _ = lb
    text = render([BalancerSample(bal.state(), bal.counters())])
    scraped = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    ns = bal.netlink.netns or ""
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "--netns", ns, "stats", "-i", bal.ifname, "--once", "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    stats = json.loads(out)

    def one(name: str, **labels: str) -> float:
        return scraped[(name, tuple(sorted({"interface": bal.ifname, **labels}.items())))]

    for b in stats["backends"]:
        at = {"service": b["service"], "backend": b["ip"]}
        assert one("l4lb_backend_packets_total", **at) == b["pkts"]
        assert one("l4lb_backend_bytes_total", **at) == b["bytes"]
        assert one("l4lb_backend_weight", **at) == b["weight"]
        assert one("l4lb_backend_drained", **at) == int(b["draining"])
        assert one("l4lb_backend_up", **at) == int(not b["down"])
    assert sum(b["pkts"] for b in stats["backends"]) == 300
    for reason, n in stats["passed"].items():
        assert one("l4lb_packets_total", verdict="pass", reason=reason.removeprefix("pass_")) == n
    for reason, n in stats["dropped"].items():
        assert one("l4lb_packets_total", verdict="drop", reason=reason.removeprefix("drop_")) == n
    assert one("l4lb_packets_total", verdict="pass", reason="not_ipv4") == 1
    for outcome, n in stats["flows"].items():
        assert one("l4lb_flow_table_packets_total", outcome=outcome) == n
    svc = {"service": str(SVC)}
    assert one("l4lb_service_backends", **svc) == 4
    assert one("l4lb_service_backends_serving", **svc) == 3
