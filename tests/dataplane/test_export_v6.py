"""`l4lb export` of IPv6 services reads back: the VIPs in brackets, and
the exported text applied again changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from l4lb_tui import config_apply
from l4lb_tui.balancer import Balancer
from tests.conftest import veth_netns
from tests.dataplane.test_cli_kernel import l4lb as l4lb_in
from tests.dataplane.test_config_apply import l4lb

pytestmark = pytest.mark.kernel

V6 = """\
[[balancer.service]]
vip = "[fd00:77::4]:8080/tcp"
backends = [{ ip = "fd00:77::11", mac = "02:00:00:00:00:0b" }]

[[balancer.service]]
vip = "[fd00:77::4]:*/udp"
backends = [{ ip = "fd00:77::12", mac = "02:00:00:00:00:0c", weight = 2 }]

[[balancer.service]]
vip = "10.0.0.4:8080/tcp"
backends = [{ ip = "10.2.0.11", mac = "02:00:00:00:00:0d" }]
"""


def test_export_of_ipv6_services_applies_back(tmp_path: Path) -> None:
    with veth_netns("y17x") as (ns, dev, _):
        conf = tmp_path / "y17-v6.toml"
        head = f'[[balancer]]\ninterface = "{dev}"\nnetns = "{ns}"\nsource = "10.0.0.1"\n'
        conf.write_text(head + 'source6 = "fd00:77::2"\n\n' + V6)
        try:
            res = l4lb("apply", "-f", str(conf))
            assert res.returncode == 0, res.stderr
            # Only this test's balancer: export covers every one on the host.
            bal = Balancer(dev, netns=ns)
            exported = config_apply.Exported(dev, ns, config_apply.running(bal))
            text = config_apply.render_export([exported])
            assert 'vip = "[fd00:77::4]:8080/tcp"' in text
            assert 'vip = "[fd00:77::4]:*/udp"' in text
            again = tmp_path / "y17-export.toml"
            again.write_text(text + "\n")
            diff = l4lb("diff", "-f", str(again), "--exit-code")
            assert diff.returncode == 0, diff.stdout + diff.stderr
            assert "as configured" in diff.stdout
            res = l4lb("apply", "-f", str(again))
            assert res.returncode == 0, res.stderr
        finally:
            l4lb_in(ns, "detach", "-i", dev)
