"""mac = "neighbour" in the lab after a reboot-like empty neighbour table:
`l4lb apply` asks the backends for their MACs from an address that is not a
VIP (the backends hold the VIP and ignore a request from it), with or
without probe_source, and every backend is resolved (t15 finding 6)."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_support import require_root

from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import read_destinations
from l4lb_tui.lab import Lab
from l4lb_tui.lab.names import PROBE_SADDR
from tests.killed_reload import ROOT

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    require_root()
    built = Lab(prefix=f"h15b{secrets.token_hex(1)}", backends=3)
    try:
        built.up()
        yield built
    finally:
        built.down()


def l4lb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("probe_source", [None, PROBE_SADDR])
def test_an_empty_neighbour_table_is_filled_by_asking(
    lab: Lab, tmp_path: Path, probe_source: str | None
) -> None:
    truth = {d.ip: d.mac for d in read_destinations(lab.csv_path)}
    backends = "".join(f'  {{ ip = "{ip}", mac = "neighbour" }},\n' for ip in truth)
    probe = f'probe_source = "{probe_source}"\n' if probe_source else ""
    cfg = tmp_path / "l4lb.toml"
    cfg.write_text(
        f'[[balancer]]\ninterface = "{lab.lb_ifname}"\nnetns = "{lab.lb_ns}"\n'
        f'source = "{lab.outer_saddr}"\n{probe}\n'
        f'[[balancer.service]]\nvip = "{lab.vip}:{lab.http_port}/tcp"\nbackends = [\n{backends}]\n'
    )
    subprocess.run(["ip", "-n", lab.lb_ns, "neigh", "flush", "dev", lab.lb_ifname], check=True)  # noqa: S603
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    try:
        res = l4lb("apply", "-f", str(cfg))
        assert res.returncode == 0, res.stderr
        (svc,) = bal.state().services
        assert {d.ip: d.mac for d in bal.members(svc.key)} == truth
    finally:
        if bal.is_loaded():
            bal.detach()
