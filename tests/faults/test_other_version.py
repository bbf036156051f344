"""Pins another build of l4lb made (a config of another map layout): every
command refuses them, and the remedy it prints runs where the balancer is
(with its --netns) and says what the detach costs (x17 LOW-1)."""

from __future__ import annotations

import dataclasses
import os

import pytest

from l4lb_tui import abi, bpfsys
from l4lb_tui.balancer import Balancer
from l4lb_tui.control.handle import other_version
from l4lb_tui.identity import Netns
from tests.conftest import veth_netns
from tests.faults.test_half_made import l4lb

pytestmark = pytest.mark.kernel


def test_the_refusal_names_the_namespace_and_what_detaching_costs() -> None:
    with veth_netns("d17ov") as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver")
        try:
            old = dataclasses.replace(bal.config(), version=abi.LAYOUT_VERSION - 1)
            fd = bpfsys.obj_get(bal.map_pin("config"))
            try:
                bpfsys.update(fd, abi.u32(0), old.pack())
            finally:
                os.close(fd)
            res = l4lb("--netns", ns, "stats", "-i", dev, "--once")
            assert res.returncode == 2, res.stderr
            assert len(res.stderr.strip().splitlines()) == 1, res.stderr
            assert f"(map layout {abi.LAYOUT_VERSION - 1}, " in res.stderr
            assert f"run 'l4lb --netns {ns} detach -i {dev}', then attach and load" in res.stderr
            assert "keeps serving as loaded until the detach" in res.stderr
        finally:
            assert l4lb("--netns", ns, "detach", "-i", dev).returncode == 0


def test_in_the_hosts_namespace_the_remedy_has_no_netns() -> None:
    line = other_version("eth0", Netns(1, host=True), "map layout 7, this version uses 8")
    assert line == (
        "the balancer on eth0 was loaded by another version of l4lb (map layout 7, this "
        "version uses 8): run 'l4lb detach -i eth0', then attach and load it again (l4lb map "
        "or apply); it keeps serving as loaded until the detach, and from the detach until "
        "the load its traffic is not balanced"
    )
    named = other_version("lb 0", Netns(2, name="x17-s6"), "map layout 7, this version uses 8")
    assert "run 'l4lb --netns x17-s6 detach -i 'lb 0''" in named
