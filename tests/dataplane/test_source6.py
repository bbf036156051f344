"""The outer IPv6 source of ip6ip6 as the operator sets it: `l4lb attach
--source6` and the config's `source6` (apply, diff, export)."""

from __future__ import annotations

from pathlib import Path

import pytest

from l4lb_tui.balancer import Balancer
from tests.conftest import veth_netns
from tests.dataplane.test_cli_kernel import l4lb as l4lb_in
from tests.dataplane.test_config_apply import l4lb

pytestmark = pytest.mark.kernel


def test_attach_source6_sets_and_keeps_the_outer_v6_source() -> None:
    with veth_netns("h17c") as (ns, dev, _):
        try:
            res = l4lb_in(ns, "attach", "-i", dev, "--source6", "fd00:77::1")
            assert res.returncode == 0, res.stderr
            assert "outer IPv6 source fd00:77::1" in res.stdout
            assert Balancer(dev, netns=ns).source6() == "fd00:77::1"
            assert l4lb_in(ns, "attach", "-i", dev).returncode == 0
            assert Balancer(dev, netns=ns).source6() == "fd00:77::1", "kept when not given"
            for bad in ("ff02::1", "10.0.0.1", "fd00::1 ", "::1"):
                res = l4lb_in(ns, "attach", "-i", dev, "--source6", bad)
                assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, bad
            assert Balancer(dev, netns=ns).source6() == "fd00:77::1", "refusals change nothing"
        finally:
            l4lb_in(ns, "detach", "-i", dev)


def test_config_source6_applies_diffs_and_exports(tmp_path: Path) -> None:
    with veth_netns("h17c") as (ns, dev, _):
        conf = tmp_path / "l4lb.toml"
        head = f'[[balancer]]\ninterface = "{dev}"\nnetns = "{ns}"\nsource = "10.0.0.1"\n'
        conf.write_text(head + 'source6 = "fd00:77::2"\n')
        try:
            diff = l4lb("diff", "-f", str(conf))
            assert "outer IPv6 source unset -> fd00:77::2" in diff.stdout, diff.stdout
            res = l4lb("apply", "-f", str(conf))
            assert res.returncode == 0, res.stderr
            assert Balancer(dev, netns=ns).source6() == "fd00:77::2"
            assert 'source6 = "fd00:77::2"' in l4lb("export").stdout
            assert "source6" not in l4lb("diff", "-f", str(conf)).stdout
            conf.write_text(head + 'source6 = "fe80::1%eth0"\n')
            res = l4lb("apply", "-f", str(conf))
            assert res.returncode == 2 and "balancer[0].source6" in res.stderr
        finally:
            l4lb_in(ns, "detach", "-i", dev)
