"""The dual-stack scale-out lab's configs (pure text): a node's daemon
config carries both VIPs' services and both BGP sessions, the router's
BIRD config parses with both kernel protocols, and a lab an older l4lb
built without IPv6 is refused rather than waited on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from l4lb_tui.config_file import parse_config
from l4lb_tui.destinations import Destination
from l4lb_tui.lab import scalecheck, scaleconfig, scalenames
from l4lb_tui.lab.errors import LabError

MAC = "02:00:00:00:00:0b"


def test_a_node_config_is_dual_stack(tmp_path: Path) -> None:
    node = scalenames.node("g17u", 2)
    assert (node.addr, node.addr6) == ("10.0.0.22", "fd00::22")
    text = scaleconfig.node_config(
        node, 2, [Destination("10.0.0.11", MAC)], tmp_path / "bgp", True,
        [Destination("fd00::11", MAC)],
    )  # fmt: skip
    config = parse_config(text)
    assert config.bgp is not None
    assert (config.bgp.peer6, config.bgp.source6) == ("fd00::1", "fd00::22")
    (bal,) = config.balancers
    assert bal.source6 == "fd00::22" and bal.probe_source6 == "fd00::42"
    vips = sorted({k.vip for s in bal.services for k in s.keys})
    assert vips == ["10.0.0.4", "fd00::4"]
    assert all(s.health is not None for s in bal.services) and len(bal.services) == 4


def test_the_router_config_peers_both_families(tmp_path: Path) -> None:
    nodes = [scalenames.node("g17u", i) for i in (1, 2, 3)]
    text = scaleconfig.router_config(nodes, tmp_path / "router.log")
    assert "neighbor fd00::23 as 65001;" in text and "neighbor 10.0.0.23 as 65001;" in text
    assert "import where net ~ [ fd00::4/128{128,128} ];" in text
    conf = tmp_path / "router.conf"
    conf.write_text(text)
    done = subprocess.run(  # noqa: S603
        ["bird", "-p", "-c", str(conf)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_a_lab_built_without_ipv6_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "router.conf"
    scalecheck.refuse_ipv4_only("g17u", conf)  # no lab yet: built as asked
    nodes = [scalenames.node("g17u", i) for i in (1, 2)]
    conf.write_text(scaleconfig.router_config(nodes, tmp_path / "router.log"))
    scalecheck.refuse_ipv4_only("g17u", conf)
    old = "".join(line + "\n" for line in conf.read_text().splitlines() if "kernel6" not in line)
    conf.write_text(old)
    with pytest.raises(LabError, match=r"built without IPv6 .* lab down --prefix g17u"):
        scalecheck.refuse_ipv4_only("g17u", conf)
