"""A link under 1320 bytes with IPv6 services: attach and map warn (a
1280-byte IPv6 packet, the minimum every link must carry, cannot pass)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import veth_netns
from tests.dataplane.test_cli_kernel import l4lb as l4lb_in

pytestmark = pytest.mark.kernel


def test_ipv6_services_below_mtu_1320_are_warned(tmp_path: Path) -> None:
    with veth_netns("y17m") as (ns, dev, _):
        subprocess.run(["ip", "-n", ns, "link", "set", dev, "mtu", "1300"], check=True)  # noqa: S603
        v4 = tmp_path / "y17-v4.csv"
        v4.write_text("10.2.0.11, 02:00:00:00:00:11\n")
        v6 = tmp_path / "y17-v6.csv"
        v6.write_text("fd00:77::11, 02:00:00:00:00:11\n")
        try:
            res = l4lb_in(ns, "attach", "-i", dev, "--source6", "fd00:77::1")
            assert res.returncode == 0 and "MTU" not in res.stderr, res.stderr
            res = l4lb_in(ns, "map", "-i", dev, "-f", str(v4), "--vip", "10.0.0.4:80/tcp")
            assert res.returncode == 0 and "under 1320" not in res.stderr, res.stderr
            res = l4lb_in(ns, "map", "-i", dev, "-f", str(v6), "--vip", "[fd00:77::4]:80/tcp")
            assert res.returncode == 0, res.stderr
            assert f"warning: {dev}'s MTU 1300 is under 1320: IPv6 services" in res.stderr
            res = l4lb_in(ns, "attach", "-i", dev)
            assert res.returncode == 0 and "MTU 1300 is under 1320" in res.stderr, res.stderr
        finally:
            l4lb_in(ns, "detach", "-i", dev)


def test_apply_of_ipv6_services_below_mtu_1320_warns(tmp_path: Path) -> None:
    from tests.dataplane.test_config_apply import l4lb

    with veth_netns("y17m") as (ns, dev, _):
        subprocess.run(["ip", "-n", ns, "link", "set", dev, "mtu", "1300"], check=True)  # noqa: S603
        conf = tmp_path / "y17-mtu.toml"
        conf.write_text(
            f'[[balancer]]\ninterface = "{dev}"\nnetns = "{ns}"\nsource = "10.0.0.1"\n'
            'source6 = "fd00:77::1"\n\n[[balancer.service]]\nvip = "[fd00:77::4]:80/tcp"\n'
            'backends = [{ ip = "fd00:77::11", mac = "02:00:00:00:00:11" }]\n'
        )
        try:
            res = l4lb("apply", "-f", str(conf))
            assert res.returncode == 0, res.stderr
            assert "'s MTU 1300 is under 1320: IPv6 services" in res.stderr, res.stderr
        finally:
            l4lb_in(ns, "detach", "-i", dev)
