"""Reloads that change only the IPv6 side of the probe tunnel leave its IPv4
side alone (x17 MEDIUM-1).  They used to close and reopen the whole tunnel:
IPv4 probes in that moment reached the balancer's own stack (it holds the
VIP), were refused, and with fall = 1 every IPv4 backend was drained and
each IPv4 service failed open, on every reload when probe_source6 was not
an address of the host.  Nor is an IPv6 backend failed by a reload: a probe
cut short by its tunnel's removal is not counted, and address probes never
go from a probe source the host lacks.  A real daemon, real reloads
(SIGHUP), real probes."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_daemon_health_owns_e2e import Daemon

from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.lab import Lab
from l4lb_tui.lab.labconfig import lab_config
from l4lb_tui.lab.names import PROBE_SADDR6
from tests.lab.daemon_kit import free_port, up, wait_for

pytestmark = pytest.mark.kernel

# fall = 1: one refused probe drains a backend.  The timeout as long as the
# interval: a busy 2-core machine must not fail a probe by itself.
TIMING = {"interval": 1.0, "timeout": 1.0, "rise": 1, "fall": 1}
ELSEWHERE = "fd00::99"  # not an address of the balancer's host


def config(lab: Lab, port: int, ipv6: bool, source6: str | None = PROBE_SADDR6) -> str:
    text = lab_config(lab, metrics=f"127.0.0.1:{port}", ipv6=ipv6, **TIMING)
    line = f'probe_source6 = "{PROBE_SADDR6}"\n'
    assert line in text
    return text.replace(line, "" if source6 is None else f'probe_source6 = "{source6}"\n')


@pytest.fixture
def daemon(lab: Lab, tmp_path: Path) -> Iterator[tuple[Daemon, Balancer]]:
    port = free_port()
    cfg = tmp_path / "l4lb.toml"
    cfg.write_text(config(lab, port, ipv6=False))
    daemon = Daemon(cfg, port)
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    try:
        daemon.start()
        yield daemon, bal
    finally:
        daemon.stop()
        if bal.is_loaded():
            bal.detach()


def reload(d: Daemon, text: str) -> None:
    """A SIGHUP, and its journal line; generous: the daemon's control thread
    may be busy with the results of the services a reload added."""
    assert d.proc is not None
    said = d.journal().count("reload")
    d.cfg.write_text(text)
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: d.journal().count("reload") > said, 60, "a reload")
    time.sleep(0.5)  # probes through the tunnel as it is now


def downs(lab: Lab, journal: str) -> list[str]:
    """Journal lines that take a backend down or fail a service open."""
    ips = "|".join(re.escape(a) for n in lab.backend_nodes for a in (n.addr, n.addr6))
    bad = re.compile(rf"\b({ips}): down|drained .*\b({ips})\b|FAILING OPEN")
    return [line for line in journal.splitlines() if bad.search(line)]


def test_reloads_changing_the_ipv6_side_never_touch_the_ipv4_tunnel(
    lab: Lab, daemon: tuple[Daemon, Balancer]
) -> None:
    d, bal = daemon
    wait_for(lambda: len(up(d.port)) == 6, 15, "every IPv4 backend up")
    # Every IPv4 rule change in the balancer's namespace while the reloads run.
    monitor = subprocess.Popen(  # noqa: S603 - fixed argv
        ["ip", "-n", lab.lb_ns, "-4", "monitor", "rule"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        steps = [
            config(lab, d.port, ipv6=True),  # IPv6 services: the IPv6 half added
            config(lab, d.port, ipv6=False),  # and removed
            config(lab, d.port, ipv6=True),
            config(lab, d.port, ipv6=True, source6=None),  # no probe_source6: IPv6 half goes
            config(lab, d.port, ipv6=True, source6=ELSEWHERE),  # one it cannot open
            config(lab, d.port, ipv6=True, source6=ELSEWHERE),  # nothing to change
            config(lab, d.port, ipv6=True, source6=ELSEWHERE),
            config(lab, d.port, ipv6=True),  # back through the tunnel
        ]
        for text in steps:
            reload(d, text)
        wait_for(
            lambda: (
                "health checks go through the probe tunnel to the VIP, from fd00::3"
                in d.journal().rsplit("fd00::99", 1)[-1]
            ),
            10,
            "the IPv6 services back in the tunnel",
        )
    finally:
        monitor.terminate()
        seen, _ = monitor.communicate(timeout=10)
    journal = d.journal()
    # Neither family's: an IPv6 service moved from the tunnel to its
    # backends' addresses is not failed by a probe the move cut short, and
    # address probes are not sent from a probe source the host lacks.
    assert not downs(lab, journal), "\n".join(downs(lab, journal))
    v4 = [ServiceKey(lab.vip, lab.http_port, 6), ServiceKey(lab.vip, lab.udp_port, 17)]
    assert not any(b.down for s in v4 for b in bal.members(s)), journal
    assert "fd00::99 is not an address of this host" in journal
    assert seen == "", f"the IPv4 rules changed:\n{seen}"


def test_a_link_flap_is_no_verdict_on_the_backends(
    lab: Lab, daemon: tuple[Daemon, Balancer]
) -> None:
    """x17 MEDIUM-4: the kernel flushes the tunnel's routes with the link;
    until the daemon makes them again every marked probe met the host's own
    stack ("refused"), and with fall = 1 every backend was drained and each
    service failed open while clients were served throughout."""
    d, _ = daemon
    wait_for(lambda: len(up(d.port)) == 6, 15, "every IPv4 backend up")
    ns, dev = lab.lb_ns, lab.lb_ifname
    # The shared lab's IPv6 addresses must outlive the flap.
    keep = ["ip", "netns", "exec", ns, "sysctl", "-q", "-w"]
    key = f"net.ipv6.conf.{dev}.keep_addr_on_down"
    was = subprocess.run(  # noqa: S603 - fixed argv
        ["ip", "netns", "exec", ns, "sysctl", "-n", key], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run([*keep, f"{key}=1"], check=True)  # noqa: S603
    try:
        for state in ("down", "up"):
            subprocess.run(["ip", "-n", ns, "link", "set", dev, state], check=True)  # noqa: S603
            time.sleep(1)
        wait_for(lambda: "made it again" in d.journal(), 15, "the tunnel made again")
        time.sleep(3)  # probes through it again, and what was held counted
    finally:
        subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)  # noqa: S603
        subprocess.run([*keep, f"{key}={was}"], check=True)  # noqa: S603
    journal = d.journal()
    assert not downs(lab, journal), "\n".join(downs(lab, journal))
    assert len(up(d.port)) == 6
