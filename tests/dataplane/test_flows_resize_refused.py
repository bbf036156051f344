"""A config asking a loaded balancer for another flow table size: `diff`
exits 2 as apply refuses it, and apply says why once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import veth_netns
from tests.dataplane.test_cli_kernel import l4lb as l4lb_in
from tests.dataplane.test_config_apply import l4lb

pytestmark = pytest.mark.kernel


def test_diff_and_apply_refuse_a_resize(tmp_path: Path) -> None:
    with veth_netns("y17f") as (ns, dev, _):
        conf = tmp_path / "y17-flows.toml"
        head = f'[[balancer]]\ninterface = "{dev}"\nnetns = "{ns}"\nsource = "10.0.0.1"\n'
        try:
            assert l4lb_in(ns, "attach", "-i", dev, "--flows", "4k").returncode == 0
            conf.write_text(head + 'flows = "8k"\n')
            for argv in (["diff", "-f", str(conf)], ["diff", "--exit-code", "-f", str(conf)]):
                res = l4lb(*argv)
                assert res.returncode == 2, res.stdout + res.stderr
                assert "apply would refuse this" in res.stderr
            res = l4lb("apply", "-f", str(conf))
            assert res.returncode == 2
            (line,) = res.stderr.strip().splitlines()
            assert line.count("4k -> 8k") == 1 and "nothing was changed" in line, line
            conf.write_text(head + 'flows = "4k"\n')
            assert l4lb("diff", "-f", str(conf)).returncode == 0
        finally:
            l4lb_in(ns, "detach", "-i", dev)
