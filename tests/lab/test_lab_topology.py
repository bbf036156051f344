"""The lab without the balancer: topology, servers, decap, idempotence, teardown.

Real kernel, real sockets: run as root.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from lab_packets import IPPROTO_IPIP, ethernet, ipip_udp_frame, ipv4
from lab_support import leftovers, namespace_inodes, require_root, unique_prefix

from l4lb_tui.bpftool import Bpftool
from l4lb_tui.lab import Lab, LabError
from l4lb_tui.lab import xdp as lab_xdp
from l4lb_tui.lab.names import MAX_BACKENDS, MAX_PREFIX_LEN, PIN_ROOT
from l4lb_tui.lab.topology import link_info
from l4lb_tui.netlink import build, namespaces

LAB_CLI = [sys.executable, "-m", "l4lb_tui.lab"]
CSV_LINE = re.compile(r"^10\.0\.0\.\d{1,3}, ([0-9a-f]{2}:){5}[0-9a-f]{2}$")


def lab_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        [*LAB_CLI, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


# No kernel needed


def test_longest_names_fit_ifnamsiz() -> None:
    lab = Lab(prefix="p" * MAX_PREFIX_LEN, backends=MAX_BACKENDS)
    names = [lab.bridge] + [n for node in lab.nodes for n in (node.ifname, node.port)]
    assert max(len(n) for n in names) <= 15


@pytest.mark.parametrize("prefix", ["", "Abc", "1ab", "a-b", "abcdefghi", "a b"])
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(LabError, match="bad prefix"):
        Lab(prefix=prefix)


@pytest.mark.parametrize("count", [0, -1, MAX_BACKENDS + 1])
def test_bad_backend_count_is_refused(count: int) -> None:
    with pytest.raises(LabError, match="bad backend count"):
        Lab(prefix="x", backends=count)


def test_cli_error_is_one_line_and_exit_2() -> None:
    done = lab_cli("up", "--prefix", "Bad-Prefix")
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "bad prefix" in done.stderr


# The session lab


@pytest.mark.kernel
def test_destinations_csv_lists_real_backend_macs(lab: Lab) -> None:
    lines = lab.csv_path.read_text().splitlines()
    assert all(CSV_LINE.match(line) for line in lines), lines
    with_macs = {}
    for node in lab.backend_nodes:
        info = link_info(node.ns, node.ifname)
        assert info is not None
        with_macs[node.addr] = info.mac
    assert lines == [f"{ip}, {mac}" for ip, mac in with_macs.items()]


@pytest.mark.kernel
def test_each_backend_serves_udp_and_http_on_the_vip(lab: Lab) -> None:
    for node in lab.backend_nodes:
        report = lab.traffic(count=3, duration=5, from_ns=node.ns)
        assert (report.udp.sent, report.udp.answered) == (3, 3)
        assert (report.http.sent, report.http.answered) == (3, 3)
        assert report.backends() == {node.name}


@pytest.mark.kernel
def test_status_shows_namespaces_programs_and_servers(lab: Lab) -> None:
    status = lab.status()
    assert {ns.name for ns in status.namespaces} == {
        lab.switch_ns,
        *(node.ns for node in lab.nodes),
    }
    for node in lab.backend_nodes:
        ns = status.namespace(node.ns)
        assert ns is not None
        (link,) = [li for li in ns.links if li.name == node.ifname]
        assert link.xdp is not None and link.xdp.name == "l4lb_decap"
        assert link.xdp.mode == "driver" and link.xdp.decap_addr == node.addr
        assert any("--name" in p.argv and node.name in p.argv for p in ns.processes)
    switch = status.namespace(lab.switch_ns)
    assert switch is not None
    (port,) = [li for li in switch.links if li.name == lab.balancer.port]
    assert port.xdp is not None and port.xdp.name == "l4lb_pass"

    done = lab_cli("status", "--prefix", lab.prefix, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["prefix"] == lab.prefix


def _send_ipip(lab: Lab, outer_dst: str, to_backend: int, payload: bytes) -> bytes | None:
    """An IPIP-wrapped UDP request from the client, as the balancer would send
    it, to backend `to_backend`'s MAC; the reply the client gets, if any."""
    backend = lab.backend_nodes[to_backend]
    client_link = link_info(lab.client.ns, lab.client.ifname)
    assert client_link is not None
    backend_mac = dict(lab.destinations())[backend.addr]
    with (
        lab.socket(lab.client.ns, socket.AF_INET, socket.SOCK_DGRAM) as reply_sock,
        lab.socket(lab.client.ns, socket.AF_PACKET, socket.SOCK_RAW) as raw,
    ):
        reply_sock.bind((lab.client.addr, 0))
        reply_sock.settimeout(0.5)
        raw.bind((lab.client.ifname, 0))
        sport = reply_sock.getsockname()[1]
        raw.send(
            ipip_udp_frame(
                src_mac=client_link.mac,
                dst_mac=backend_mac,
                outer_src=lab.outer_saddr,
                outer_dst=outer_dst,
                inner_src=lab.client.addr,
                inner_dst=lab.vip,
                sport=sport,
                dport=lab.udp_port,
                payload=payload,
            )
        )
        try:
            return reply_sock.recv(2048)
        except TimeoutError:
            return None


def _decap_stats(lab: Lab, index: int) -> dict[str, int]:
    node = lab.backend_nodes[index]
    info = link_info(node.ns, node.ifname)
    assert info is not None and info.xdp_prog_id
    return lab_xdp.decap_stats(info.xdp_prog_id)


@pytest.mark.kernel
def test_decap_unwraps_ipip_for_its_backend_which_answers_directly(lab: Lab) -> None:
    before = _decap_stats(lab, 1)
    reply = _send_ipip(lab, lab.backend_nodes[1].addr, 1, b"hello-decap")
    assert reply == b"be2 hello-decap"
    after = _decap_stats(lab, 1)
    assert after["decapsulated"] == before["decapsulated"] + 1
    assert after["error"] == 0


@pytest.mark.kernel
def test_decap_leaves_ipip_for_another_address_alone(lab: Lab) -> None:
    before = _decap_stats(lab, 0)
    # To be1's MAC, but the outer destination is be2's address.
    reply = _send_ipip(lab, lab.backend_nodes[1].addr, 0, b"not-yours")
    assert reply is None
    after = _decap_stats(lab, 0)
    assert after["foreign"] == before["foreign"] + 1
    assert after["decapsulated"] == before["decapsulated"]


def _bad_ipip(kind: str, outer_dst: str, vip: str) -> bytes:
    """Outer IPv4 (IPIP, to the backend) around something that cannot be unwrapped."""
    inner = ipv4("10.0.0.2", vip, 17, b"\0" * 8)
    if kind == "truncated":
        return ipv4("10.0.0.1", outer_dst, IPPROTO_IPIP, inner[:10])
    if kind == "fragment":
        return ipv4("10.0.0.1", outer_dst, IPPROTO_IPIP, inner, frag=0x2000)  # MF
    assert kind == "inner-not-ipv4"
    return ipv4("10.0.0.1", outer_dst, IPPROTO_IPIP, b"\x60" + inner[1:])


@pytest.mark.kernel
@pytest.mark.parametrize("kind", ["truncated", "fragment", "inner-not-ipv4"])
def test_decap_passes_what_it_cannot_unwrap_and_counts_it(lab: Lab, kind: str) -> None:
    node = lab.backend_nodes[2]
    client_link = link_info(lab.client.ns, lab.client.ifname)
    assert client_link is not None
    before = _decap_stats(lab, 2)
    frame = ethernet(
        client_link.mac, dict(lab.destinations())[node.addr], _bad_ipip(kind, node.addr, lab.vip)
    )
    with lab.socket(lab.client.ns, socket.AF_PACKET, socket.SOCK_RAW) as raw:
        raw.bind((lab.client.ifname, 0))
        raw.send(frame)
    deadline = time.monotonic() + 2
    while (after := _decap_stats(lab, 2))["malformed"] == before["malformed"]:
        assert time.monotonic() < deadline, "the frame never reached the decap program"
        time.sleep(0.02)
    assert after["malformed"] == before["malformed"] + 1
    assert after["decapsulated"] == before["decapsulated"]
    assert after["error"] == 0


@pytest.mark.kernel
def test_up_twice_changes_nothing(lab: Lab) -> None:
    def snapshot() -> tuple[object, ...]:
        status = lab.status()
        progs = sorted(
            (ns.name, li.name, li.xdp.prog_id)
            for ns in status.namespaces
            for li in ns.links
            if li.xdp
        )
        pids = sorted((ns.name, p.pid) for ns in status.namespaces for p in ns.processes)
        return progs, pids, lab.csv_path.read_text()

    before = snapshot()
    done = lab_cli("up", "--prefix", lab.prefix, "--backends", str(lab.backends))
    assert done.returncode == 0, done.stderr
    assert str(lab.csv_path) in done.stdout
    assert lab.lb_ns in done.stdout and lab.lb_ifname in done.stdout
    assert snapshot() == before
    report = lab.traffic(count=2, from_ns=lab.backend_nodes[0].ns)
    assert report.udp.answered == report.http.answered == 2


@pytest.mark.kernel
def test_traffic_without_balancer_is_bounded_and_unanswered(lab: Lab) -> None:
    # No balancer on the VIP: the balancer's namespace itself refuses (TCP
    # RST, ICMP port unreachable; the kernel rate-limits the ICMP, so later
    # UDP requests wait out their 0.5 s timeout).  `duration` bounds it all.
    start = time.monotonic()
    report = lab.traffic(count=50, duration=2)
    assert time.monotonic() - start < 2 + 0.5 + 2  # + last timeout + start-up
    assert report.udp.sent >= 1 and report.http.sent == report.udp.sent
    assert report.udp.answered == report.http.answered == 0


@pytest.mark.kernel
def test_flood_runs_for_its_duration_then_stops(lab: Lab) -> None:
    report = lab.flood(0.5)
    assert report.udp_sent > 0 and report.syn_sent > 0
    assert 0.5 <= report.duration < 3
    client = lab.status().namespace(lab.client.ns)
    assert client is not None
    assert [p for p in client.processes if "hping3" in p.command] == []


@pytest.mark.kernel
def test_flood_with_bad_duration_fails_cleanly(lab: Lab) -> None:
    done = lab_cli("traffic", "--prefix", lab.prefix, "--flood", "--duration", "0")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1


# Teardown: each with a lab of its own


def _pin_something(prefix: str) -> None:
    """What the balancer leaves behind: a pinned map under its interface's dir."""
    tool = Bpftool()
    tool.ensure_bpffs()
    pin_dir = PIN_ROOT / f"{prefix}-lb0" / "maps"
    pin_dir.mkdir(parents=True, exist_ok=True)
    tool.map_create(pin_dir / "m", "array", 4, 4, 1, "labtest")


@pytest.mark.kernel
def test_down_removes_everything_and_up_shrinks() -> None:
    require_root()
    prefix = unique_prefix()
    try:
        Lab(prefix, backends=2).up()
        small = Lab(prefix, backends=1)
        small.up()
        assert namespaces.listed().count(f"{prefix}-be2") == 0
        assert small.csv_path.read_text().count("\n") == 1
        _pin_something(prefix)
        inodes = namespace_inodes(prefix)
        assert len(inodes) == 4
        done = lab_cli("down", "--prefix", prefix)
        assert done.returncode == 0, done.stderr
        assert leftovers(prefix, inodes) == []
        # Down twice: nothing to do, no error.
        assert lab_cli("down", "--prefix", prefix).returncode == 0
    finally:
        Lab(prefix).down()


@pytest.mark.kernel
def test_down_cleans_up_after_a_half_done_up() -> None:
    require_root()
    prefix = unique_prefix()
    lab = Lab(prefix)
    try:
        # As if `up` died early: some namespaces, a veth into one of them,
        # a process inside, a pin dir, no state dir.
        namespaces.create(lab.switch_ns)
        namespaces.create(lab.backend_nodes[0].ns)
        with build.editing(lab.switch_ns) as links:
            node = lab.backend_nodes[0]
            links.add_veth(node.port, node.ifname, peer_netns=node.ns)
        sleeper = subprocess.Popen(  # noqa: S603
            ["ip", "netns", "exec", lab.backend_nodes[0].ns, "sleep", "60"]
        )
        # `ip netns exec` enters the namespace a moment after it starts; a
        # process not yet inside is not the lab's to remove.
        deadline = time.monotonic() + 5
        while sleeper.pid not in namespaces.pids([lab.backend_nodes[0].ns]).get(
            lab.backend_nodes[0].ns, []
        ):
            assert time.monotonic() < deadline, "sleeper never entered the namespace"
            time.sleep(0.01)
        _pin_something(prefix)
        inodes = namespace_inodes(prefix)
        lab.down()
        assert sleeper.poll() is not None
        assert leftovers(prefix, inodes) == []
    finally:
        lab.down()


@pytest.mark.kernel
def test_down_cleans_up_after_an_interrupted_up() -> None:
    require_root()
    prefix = unique_prefix()
    lab = Lab(prefix)
    # A session of its own: the interruption (like Ctrl-C, or a closed
    # terminal) hits `up` and whatever helpers it has running at that moment.
    proc = subprocess.Popen([*LAB_CLI, "up", "--prefix", prefix], start_new_session=True)  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            ns.startswith(f"{prefix}-be") for ns in namespaces.listed()
        ):
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        inodes = namespace_inodes(prefix)
        assert inodes, "up was interrupted before creating anything"
        lab.down()
        assert leftovers(prefix, inodes) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        lab.down()
