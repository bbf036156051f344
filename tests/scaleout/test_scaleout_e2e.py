"""The scale-out lab end to end: real BIRD, real namespaces, real TCP.

Three nodes behind one router: the router's multipath route lists them and
each carries a share of many flows; a node drained under traffic loses no
connection; a node lost outright is routed around within BFD's detection
time and the connections it carried continue through the others (their
rings agree, so the same backend answers); two nodes with different
backends differ in fingerprint.  Dual-stack throughout: the IPv6 VIP is
announced by every node over its IPv6 session, spread over all of them for
IPv6 flows, withdrawn on quorum loss, stop and drain, and its connections
survive a drain and a node's loss as the IPv4 ones do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from l4lb_tui import pinning, procfs
from l4lb_tui.balancer import Balancer
from l4lb_tui.lab import scalenames
from l4lb_tui.lab.scaleout import ScaleLab
from l4lb_tui.lab.tools import run_in
from l4lb_tui.netlink import namespaces
from tests.killed_reload import ROOT
from tests.scaleout.conftest import Conns, summary
from tests.scaleout.loss import lose_node

pytestmark = [pytest.mark.kernel, pytest.mark.scaleout]

CONNS = 50
CONNS6 = 20  # besides CONNS: fewer, so that BFD is never starved on two cores


def _balancer(lab: ScaleLab, index: int) -> Balancer:
    node = lab.node_list[index - 1]
    return Balancer(node.ifname, netns=node.ns)


def _packets(lab: ScaleLab) -> list[int]:
    return [
        sum(p for p, _ in _balancer(lab, i).counters().backends.values())
        for i in range(1, lab.nodes + 1)
    ]


def _l4lb(lab: ScaleLab, index: int, *args: str, timeout: float = 60) -> str:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        cwd=ROOT, env=lab.node_env(index), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _share(lab: ScaleLab, vip: str) -> list[int]:
    """Packets per node from 300 UDP and 300 HTTP flows to `vip`."""
    before = _packets(lab)
    report = lab.base.traffic(count=300, target=vip)
    assert report.udp.answered == 300 and report.http.answered == 300, report.lines()
    return [a - b for a, b in zip(_packets(lab), before, strict=True)]


def test_every_node_carries_a_share(scale: ScaleLab) -> None:
    assert scale.next_hops() == {n.addr for n in scale.node_list}
    assert scale.next_hops(scale.vip6) == {n.addr6 for n in scale.node_list}
    for vip in (scale.vip, scale.vip6):
        carried = _share(scale, vip)
        print(f"\nSCALEOUT packets per node from 600 flows to {vip}: {carried}")
        total = sum(carried)
        # ECMP hashes flows, so shares are not equal; each must be real.
        assert all(c > total * 0.1 for c in carried), carried
    prints = set()  # each node's (service, print) pairs
    for node in scale.node_list:
        text = run_in(node.ns, ["curl", "-s", "http://127.0.0.1:9440/metrics"]).stdout
        found: dict[str, list[dict[str, str]]] = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.value == 1:
                    found.setdefault(s.name, []).append(s.labels)
        assert found["l4lb_bgp_session_up"] == [{"peer": "10.0.0.1"}, {"peer": "fd00::1"}], text
        assert found["l4lb_bgp_announced"] == [{"vip": scale.vip}, {"vip": scale.vip6}]
        rings = found["l4lb_service_ring_fingerprint"]
        prints.add(tuple(sorted((ring["service"], ring["fingerprint"]) for ring in rings)))
    # One print per service, both families' services, the same on every node.
    assert len(prints) == 1 and len(next(iter(prints))) == 4, prints
    status = json.loads(_l4lb(scale, 1, "node", "status", "--json"))
    assert status["announced"] == [scale.vip, scale.vip6]
    assert status["session"] == status["session6"] == "Established"


def test_split_brain_shows_in_fingerprints(scale: ScaleLab) -> None:
    prints = {i: _balancer(scale, i).state().fingerprints for i in (1, 2, 3)}
    assert prints[1] == prints[2] == prints[3] and prints[1]
    conf = scale.node_dir(3) / "l4lb.toml"
    text = conf.read_text()
    gone = {scale.destinations()[-1].ip, scale.destinations(True)[-1].ip}
    try:
        kept = (line for line in text.splitlines(True) if not any(ip in line for ip in gone))
        conf.write_text("".join(kept))
        _l4lb(scale, 3, "reload")
        split = _balancer(scale, 3).state().fingerprints
        assert split.keys() == prints[1].keys()
        assert all(split[k] != prints[1][k] for k in split)
        assert _balancer(scale, 1).state().fingerprints == prints[1]
    finally:
        conf.write_text(text)
        _l4lb(scale, 3, "reload")
    assert _balancer(scale, 3).state().fingerprints == prints[1]


def test_a_change_reaching_nodes_one_by_one_breaks_no_connection(scale: ScaleLab) -> None:
    """A weight change applied node after node under traffic: while only
    some nodes have it their prints differ, yet no connection breaks, as
    none moves between nodes meanwhile and each node's flow table keeps its
    connections on their backend (a weight change keeps it a member)."""
    first = scale.destinations()[0]
    confs = [scale.node_dir(i) / "l4lb.toml" for i in (1, 2, 3)]
    texts = [c.read_text() for c in confs]
    weighted = f'{{ ip = "{first.ip}", mac = "{first.mac}", weight = 3 }}'
    before = _balancer(scale, 1).state().fingerprints
    conns = Conns(scale, CONNS)
    time.sleep(0.5)
    seen = []
    try:
        for i, (conf, text) in enumerate(zip(confs, texts, strict=True), 1):
            old = f'{{ ip = "{first.ip}", mac = "{first.mac}" }}'
            assert old in text
            conf.write_text(text.replace(old, weighted))
            _l4lb(scale, i, "reload")
            seen.append(
                (
                    [_balancer(scale, n).state().fingerprints == before for n in (1, 2, 3)],
                    len(scale.next_hops()),
                )
            )
            time.sleep(0.5)
        after = _balancer(scale, 1).state().fingerprints
        assert after != before
        assert all(_balancer(scale, n).state().fingerprints == after for n in (2, 3))
    finally:
        done = conns.finish()
        for i, (conf, text) in enumerate(zip(confs, texts, strict=True), 1):
            conf.write_text(text)
            _l4lb(scale, i, "reload")
    print(f"\nSCALEOUT a change node by node under {CONNS} connections: {summary(done)}")
    # Node by node: old print where the change has not arrived yet; the
    # router kept every node meanwhile.
    assert seen == [
        ([False, True, True], 3),
        ([False, False, True], 3),
        ([False, False, False], 3),
    ]
    assert all(c.survived for c in done), summary(done)
    assert _balancer(scale, 3).state().fingerprints == before


def _wait_hops(
    lab: ScaleLab, nodes: set[int], timeout: float = 30.0, nodes6: set[int] | None = None
) -> None:
    """Until the router routes the IPv4 VIP to `nodes`, the IPv6 one to
    `nodes6` (default: the same nodes)."""
    want = {lab.node_list[i - 1].addr for i in nodes}
    want6 = {lab.node_list[i - 1].addr6 for i in (nodes if nodes6 is None else nodes6)}
    deadline = time.monotonic() + timeout
    while (hops := (lab.next_hops(), lab.next_hops(lab.vip6))) != (want, want6):
        assert time.monotonic() < deadline, f"router routes to {hops}, not {(want, want6)}"
        time.sleep(0.05)


def test_quorum_loss_and_shutdown_withdraw(scale: ScaleLab) -> None:
    # Node 3's prober loses its IPv6 address: every IPv6 check there fails,
    # the IPv6 services fall below their quorum on that node only, and it
    # withdraws the IPv6 VIP alone; then its IPv4 address, and the IPv4 VIP.
    n3 = scale.node_list[2]
    probe, probe6 = f"{scalenames.probe_addr(3)}/32", f"{scalenames.probe_addr6(3)}/128"
    run_in(n3.ns, ["ip", "address", "del", probe6, "dev", n3.ifname])
    try:
        _wait_hops(scale, {1, 2, 3}, nodes6={1, 2})
        run_in(n3.ns, ["ip", "address", "del", probe, "dev", n3.ifname])
        try:
            _wait_hops(scale, {1, 2})
        finally:
            run_in(n3.ns, ["ip", "address", "add", probe, "dev", n3.ifname])
    finally:
        run_in(n3.ns, ["ip", "address", "add", probe6, "dev", n3.ifname])
    _wait_hops(scale, {1, 2, 3})
    # A daemon that stops withdraws first, and its speaker goes with it.
    pid = scale.daemon_pid(2)
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    _wait_hops(scale, {1, 3})
    deadline = time.monotonic() + 20
    while scale.daemon_pid(2) is not None:
        assert time.monotonic() < deadline, "the daemon did not stop"
        time.sleep(0.05)
    log = (scale.node_dir(2) / "daemon.log").read_text()
    assert "bgp: withdrew 10.0.0.4, fd00::4 (stopping)" in log, log[-2000:]
    scale.start_node(2)
    _wait_hops(scale, {1, 2, 3})


def test_drain_under_traffic_loses_no_connection(scale: ScaleLab) -> None:
    conns = Conns(scale, CONNS, CONNS6)
    time.sleep(0.5)
    try:
        said = _l4lb(scale, 2, "node", "drain")
        assert said.startswith("drained: withdrew 10.0.0.4, fd00::4;"), said
        assert scale.next_hops() == {scale.node_list[0].addr, scale.node_list[2].addr}
        assert scale.next_hops(scale.vip6) == {scale.node_list[0].addr6, scale.node_list[2].addr6}
        quiet = _packets(scale)[1]
        time.sleep(1.0)
        assert _packets(scale)[1] == quiet, "the drained node still receives traffic"
    finally:
        done = conns.finish()
        _l4lb(scale, 2, "node", "undrain")
    print(f"\nSCALEOUT drain under {CONNS}+{CONNS6} (IPv6) keep-alive connections: {summary(done)}")
    assert all(c.survived for c in done), summary(done)
    assert all(c.requests > 5 for c in done)
    scale.wait_routes(3, 20)
    scale.wait_routes(3, 20, scale.vip6)


def _restart(lab: ScaleLab, index: int) -> None:
    pid = lab.daemon_pid(index)
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while lab.daemon_pid(index) is not None:
        assert time.monotonic() < deadline, "the daemon did not stop"
        time.sleep(0.05)
    lab.start_node(index)


def test_a_drain_holds_across_a_restart(scale: ScaleLab) -> None:
    _l4lb(scale, 2, "node", "drain")
    try:
        _restart(scale, 2)
        time.sleep(2.0)  # its checks have passed meanwhile: it would announce
        _wait_hops(scale, {1, 3})
        status = json.loads(_l4lb(scale, 2, "node", "status", "--json"))
        assert status["drained"] and status["announced"] == []
        # Asked again, the drain is seen through by the new daemon.
        said = _l4lb(scale, 2, "node", "drain", "--timeout", "15")
        assert said.startswith("drained: withdrew nothing"), said
    finally:
        _l4lb(scale, 2, "node", "undrain")
    _wait_hops(scale, {1, 2, 3})


def test_node_loss_converges_and_connections_survive(scale: ScaleLab) -> None:
    converged, done = lose_node(scale, 1, CONNS, CONNS6)
    survived = sum(c.survived for c in done) / len(done)
    print(
        f"\nSCALEOUT node loss: router converged in {converged * 1000:.0f} ms (BFD, both VIPs); "
        f"{survived:.0%} of {CONNS}+{CONNS6} (IPv6) established connections survived "
        f"({summary(done)})"
    )
    assert survived == 1.0, summary(done)


def test_down_leaves_nothing(scale: ScaleLab) -> None:
    """Last: the router's bird, the nodes' daemons and birds, namespaces,
    pins and state all go with `lab down`."""
    state = str(scale.base.state_dir)
    made = [ns.ns for ns in scale.node_list]
    assert len([p for ns in made for p in pinning.recorded_in(ns)]) == 3
    scale.down()
    assert [p for ns in made for p in pinning.recorded_in(ns)] == []
    assert not [ns for ns in namespaces.listed() if ns.startswith(f"{scale.prefix}-")]
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    left = [
        pid
        for pid in pids
        if procfs.alive(pid)
        and any(state in arg or f"{scale.prefix}-" in arg for arg in procfs.cmdline(pid))
    ]
    assert left == []
    assert not scale.base.state_dir.exists()
    assert scale.base.status().namespaces == ()
