"""`backend add` without --mac, in the lab: the backend's MAC is found on
the balancer's interface, asked of the network (ARP, or IPv6 neighbour
discovery) when the table lacks it, from an address that is not a VIP
(t18 HIGH-1: IPv6 was looked up in the IPv4 table, and said absent)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from lab_conns import loaded

from l4lb_tui.lab import Lab
from tests.killed_reload import ROOT

pytestmark = pytest.mark.kernel


def l4lb(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "l4lb_tui.cli", "--netns", lab.lb_ns, "backend", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)  # noqa: S603


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
def test_backend_add_finds_the_mac_on_the_interface(lab: Lab, ipv6: bool) -> None:
    with loaded(lab, ipv6=ipv6) as (_, bal, services, real):
        svc, gone = services[0], real[2]
        where = ("-i", lab.lb_ifname, "--vip", str(svc))
        assert l4lb(lab, "remove", *where, "--ip", gone.ip).returncode == 0
        flush = ["ip", "-n", lab.lb_ns, "neigh", "flush", "dev", lab.lb_ifname]
        subprocess.run(flush, check=True)  # noqa: S603
        added = l4lb(lab, "add", *where, "--ip", gone.ip)
        assert added.returncode == 0, added.stderr
        assert {(d.ip, d.mac) for d in bal.members(svc)} >= {(gone.ip, gone.mac)}

        nobody = "fd00::99" if ipv6 else "10.0.0.99"
        before = bal.members(svc)
        res = l4lb(lab, "add", *where, "--ip", nobody)
        asked = "neighbour discovery" if ipv6 else "ARP"
        assert res.returncode == 2
        assert res.stderr.strip() == (
            f"l4lb: error: no --mac given and {nobody} is not in {lab.lb_ifname}'s neighbour "
            f"table, nor answered {asked} within 1 s: give --mac"
        )
        assert bal.members(svc) == before
        # The balancer's own address: refused as the load would, before any asking.
        held = [a.split("/")[0] for a in (bal.link().ipv6 if ipv6 else bal.link().ipv4)]
        mine = next(a for a in held if a not in (lab.vip, lab.vip6))
        res = l4lb(lab, "add", *where, "--ip", mine)
        assert res.returncode == 2 and "the balancer's own" in res.stderr, res.stderr
        assert "neighbour table" not in res.stderr
