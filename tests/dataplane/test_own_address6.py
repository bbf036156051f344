"""An IPv6 address of the balancer's own link is refused as a backend, as
an IPv4 one is: in `backend add`, `map` and a config's diff/apply."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import veth_netns
from tests.dataplane.test_cli_kernel import l4lb as l4lb_in
from tests.dataplane.test_config_apply import l4lb

pytestmark = pytest.mark.kernel
VIP = "[fd00:77::4]:8080/tcp"


def test_own_ipv6_address_is_no_backend(tmp_path: Path) -> None:
    with veth_netns("y17o") as (ns, dev, _):
        for addr, extra in (("10.0.0.3/24", []), ("fd00:77::3/64", ["nodad"])):
            argv = ["ip", "-n", ns, "addr", "add", addr, "dev", dev, *extra]
            subprocess.run(argv, check=True)  # noqa: S603
        csv = tmp_path / "y17-d6.csv"
        csv.write_text("fd00:77::11, 02:00:00:00:00:11\n")
        try:
            res = l4lb_in(ns, "attach", "-i", dev, "-s", "10.0.0.3", "--source6", "fd00:77::3")
            assert res.returncode == 0, res.stderr
            res = l4lb_in(ns, "map", "-i", dev, "-f", str(csv), "--vip", VIP)
            assert res.returncode == 0, res.stderr
            res = l4lb_in(
                ns, "backend", "-i", dev, "--vip", VIP, "add", "--ip", "fd00:77::3",
                "--mac", "02:00:00:00:00:14",
            )  # fmt: skip
            assert res.returncode == 2
            assert "fd00:77::3 is an address of" in res.stderr and "balancer's own" in res.stderr
            csv.write_text("fd00:77::3, 02:00:00:00:00:11\n")
            res = l4lb_in(ns, "map", "-i", dev, "-f", str(csv), "--vip", "[fd00:77::6]:80/tcp")
            assert res.returncode == 2 and "balancer's own" in res.stderr
            conf = tmp_path / "y17-own.toml"
            conf.write_text(
                f'[[balancer]]\ninterface = "{dev}"\nnetns = "{ns}"\nsource = "10.0.0.3"\n\n'
                f'[[balancer.service]]\nvip = "{VIP}"\n'
                'backends = [{ ip = "fd00:77::3", mac = "02:00:00:00:00:11" }]\n'
            )
            res = l4lb("diff", "-f", str(conf))
            assert res.returncode == 2 and "balancer's own" in res.stdout + res.stderr
        finally:
            l4lb_in(ns, "detach", "-i", dev)
