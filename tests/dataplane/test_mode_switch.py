"""Driver <-> generic switches on real veth devices: what they leave behind.

The guard must be gone after every switch, a refused mode must leave the old
one attached, the operator's own TC set-up must stay as it was, and a switch
killed half way must not leave a guard dropping traffic.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.control.modeswitch import GUARD_DIR
from l4lb_tui.netlink import NetlinkError
from l4lb_tui.services import parse_service
from tests.conftest import run, veth_netns
from tests.dataplane.conftest import BACKENDS, SADDR

pytestmark = pytest.mark.kernel


def guard_links() -> list[int]:
    """Ids of the programs named l4lb_guard that a bpf_link holds."""
    links = json.loads(run(["bpftool", "-j", "link", "show"]).stdout or "[]")
    names = {
        int(p["id"]): p.get("name", "")
        for p in json.loads(run(["bpftool", "-j", "prog", "show"]).stdout or "[]")
    }
    return [int(ln["prog_id"]) for ln in links if names.get(int(ln["prog_id"])) == "l4lb_guard"]


def loaded(ns: str, dev: str, mode: str = "driver") -> Balancer:
    run(["ip", "-n", ns, "link", "set", dev, "up"])
    bal = Balancer(dev, netns=ns)
    bal.attach(mode, SADDR)
    bal.load([k for k in parse_service("10.0.0.4:8080/tcp")], BACKENDS)
    return bal


def test_switches_keep_the_operators_tc_filters() -> None:
    with veth_netns("l4m") as (ns, dev, peer):
        run(["ip", "-n", ns, "link", "set", peer, "up"])
        bal = loaded(ns, dev)
        tc = ["ip", "netns", "exec", ns, "tc"]
        run([*tc, "qdisc", "add", "dev", dev, "clsact"])
        # The operator's own qdisc and filter (everything that reaches it goes
        # to the peer): the switches must leave both as they were.
        match_all = ["protocol", "all", "u32", "match", "u32", "0", "0"]
        redirect = ["action", "mirred", "egress", "redirect", "dev", peer]
        run([*tc, "filter", "add", "dev", dev, "ingress", *match_all, *redirect])
        before = run([*tc, "filter", "show", "dev", dev, "ingress"]).stdout
        warned: list[str] = []
        for mode in ("generic", "driver", "generic"):
            done = bal.attach(mode, warn=warned.append)
            assert done.startswith(f"switched {dev} from ") and f"to {mode} mode (gap " in done
        assert len(warned) == 3 and "no connection is reset" in warned[0]
        assert bal.attachment() is not None and bal.attachment().mode == "generic"  # type: ignore[union-attr]
        assert run([*tc, "filter", "show", "dev", dev, "ingress"]).stdout == before
        assert "clsact" in run([*tc, "qdisc", "show", "dev", dev]).stdout
        assert not guard_links()
        assert not (bal.pin_dir / GUARD_DIR).exists()
        assert len(bal.state().services[0].backends) == len(BACKENDS), "maps kept"
        bal.detach()


def test_refused_mode_leaves_the_old_one_with_the_kernels_words() -> None:
    with veth_netns("l4m") as (ns, dev, peer):
        # A veth refuses driver-mode XDP above its MTU limit for XDP.
        run(["ip", "-n", ns, "link", "set", dev, "mtu", "9000"])
        run(["ip", "-n", ns, "link", "set", peer, "mtu", "9000", "up"])
        bal = loaded(ns, dev, "generic")
        with pytest.raises(NetlinkError) as refused:
            bal.attach("driver")
        assert "MTU" in str(refused.value) and "back in generic mode" in str(refused.value)
        assert bal.attachment() is not None and bal.attachment().mode == "generic"  # type: ignore[union-attr]
        assert not guard_links() and not (bal.pin_dir / GUARD_DIR).exists()
        bal.detach()


_INSTALL_AND_WAIT = textwrap.dedent(
    """
    import sys, time
    from l4lb_tui.balancer import Balancer
    from l4lb_tui.control.modeswitch import GUARD_OBJ, Guard
    from l4lb_tui.paths import bpf_object
    bal = Balancer(sys.argv[1], netns=sys.argv[2])
    Guard(bal.bpftool, bal.netlink, bal.ifname, bal.pin_dir, bpf_object(GUARD_OBJ)).install()
    print("installed", flush=True)
    time.sleep(60)
    """
)


def test_a_killed_switch_leaves_no_guard() -> None:
    with veth_netns("l4m") as (ns, dev, peer):
        run(["ip", "-n", ns, "link", "set", peer, "up"])
        bal = loaded(ns, dev)
        child = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-c", _INSTALL_AND_WAIT, dev, ns],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "installed"
            assert len(guard_links()) == 1
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        deadline = time.monotonic() + 5
        while guard_links() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not guard_links(), "the kernel drops the guard with the process that held it"
        assert (bal.pin_dir / GUARD_DIR).exists(), "its pins stay until the next switch"
        assert "switched" in bal.attach("generic")
        assert not (bal.pin_dir / GUARD_DIR).exists()
        bal.detach()


def test_offload_is_not_a_switch() -> None:
    with veth_netns("l4m") as (ns, dev, peer):
        run(["ip", "-n", ns, "link", "set", peer, "up"])
        bal = loaded(ns, dev)
        warned: list[str] = []
        with pytest.raises(BalancerError, match="cannot offload"):
            bal.attach("offload", warn=warned.append)
        assert not warned and not guard_links()
        bal.detach()
