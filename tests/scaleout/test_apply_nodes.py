"""`l4lb apply` on a config with [[node]]s, against the scale-out lab: one
weight change reaches all three nodes (one ring print again everywhere),
each node reported by name; a node that cannot be reached fails alone, the
others are applied, and the command exits 2 naming it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from l4lb_tui.lab import names
from l4lb_tui.lab.scaleout import ScaleLab
from tests.killed_reload import ROOT
from tests.scaleout.test_scaleout_e2e import _balancer, _l4lb

pytestmark = [pytest.mark.kernel, pytest.mark.scaleout]


def _config(lab: ScaleLab, extra_node: str = "") -> str:
    """The lab's services, both families (the IPv6 ones as the nodes have
    them, not removed), with the first IPv4 backend weighted 3."""
    first, *rest = lab.destinations()
    listed = f'  {{ ip = "{first.ip}", mac = "{first.mac}", weight = 3 }},\n' + "".join(
        f'  {{ ip = "{d.ip}", mac = "{d.mac}" }},\n' for d in rest
    )
    listed6 = "".join(f'  {{ ip = "{d.ip}", mac = "{d.mac}" }},\n' for d in lab.destinations(True))
    services = "".join(
        f'[[balancer.service]]\nvip = "{vip}:{port}/{proto}"\nbackends = [\n{backends}]\n'
        for vip, backends in ((names.VIP, listed), (f"[{names.VIP6}]", listed6))
        for port, proto in ((names.HTTP_PORT, "tcp"), (names.UDP_PORT, "udp"))
    )
    nodes = "".join(
        f'[[node]]\nnetns = "{n.ns}"\ninterface = "{n.ifname}"\nsource = "{n.addr}"\n'
        for n in lab.node_list
    )
    if extra_node:
        nodes += f'[[node]]\nnetns = "{extra_node}"\ninterface = "{extra_node}0"\n'
    return f'[[balancer]]\ninterface = "eth0"\nmode = "driver"\n\n{services}\n{nodes}'


def _apply(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "apply", "-f", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_apply_reaches_every_node(scale: ScaleLab, tmp_path: Path) -> None:
    before = _balancer(scale, 1).state().fingerprints
    conf = tmp_path / "nodes.toml"
    try:
        conf.write_text(_config(scale))
        done = _apply(conf)
        assert done.returncode == 0, done.stderr
        for n in scale.node_list:
            assert f"{n.ns}: " in done.stdout, done.stdout
        after = [_balancer(scale, i).state().fingerprints for i in (1, 2, 3)]
        assert after[0] != before and after[0] == after[1] == after[2]
        again = _apply(conf)
        assert again.returncode == 0, again.stderr
        assert again.stdout.count("nothing to change") == 3, again.stdout
        gone = f"{scale.prefix}-n9"
        conf.write_text(_config(scale, extra_node=gone))
        failed = _apply(conf)
        assert failed.returncode == 2, failed.stdout + failed.stderr
        said = failed.stderr.strip().splitlines()[-1]
        assert "apply failed on 1 of 4 nodes" in said and gone in said, said
        assert "the other nodes were applied" in said
    finally:
        for i in (1, 2, 3):
            _l4lb(scale, i, "reload")
    assert all(_balancer(scale, i).state().fingerprints == before for i in (1, 2, 3))
