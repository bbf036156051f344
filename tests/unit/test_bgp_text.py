"""BIRD configuration text and birdc output, without a running bird: the
configs rendered (and parsed by `bird -p`), captured birdc text parsed."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from l4lb_tui.bgp import birdshow
from l4lb_tui.bgp.birdconf import (
    Bfd,
    NodeConf,
    Peer,
    RouterConf,
    check_name,
    render_node,
    render_router,
)

PROTOCOLS = """BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     2026-11-30 18:38:24
kernel1    Kernel     master4    up     2026-11-30 18:38:24
bfd1       BFD        ---        up     2026-11-30 18:38:24
n1         BGP        ---        up     2026-11-30 18:38:30  Established
n2         BGP        ---        start  2026-11-30 18:38:24  Active        Socket: Connection refused
vips       Static     master4    up     2026-11-30 18:38:30
"""

ROUTES = """BIRD 2.0.12 ready.
Table master4:
10.100.0.1/32        unicast [n1 2026-11-30 18:38:31] * (100) [AS65001i]
\tvia 10.77.0.2 on h16xr
                     unicast [n2 2026-11-30 18:38:32] (100) [AS65001i]
\tvia 10.77.0.3 on h16xr
10.100.0.2/32        blackhole [vips 2026-11-30 18:38:30] * (200)
"""


def test_protocols_parsed() -> None:
    found = {p.name: p for p in birdshow.protocols(PROTOCOLS)}
    assert set(found) == {"device1", "kernel1", "bfd1", "n1", "n2", "vips"}
    assert found["n1"].established and found["n1"].state == "up"
    assert not found["n2"].established
    assert found["n2"].info.startswith("Active") and "Connection refused" in found["n2"].info
    assert found["vips"].proto == "Static" and found["vips"].info == ""


ROUTES6 = """BIRD 2.0.12 ready.
Table master6:
fd00::4/128          unicast [node6_n1 2026-12-01 04:52:11] * (100) [AS65001i]
\tvia fd00::21 on h16s660-rt0
                     unicast [node6_n2 2026-12-01 04:52:13] (100) [AS65001i]
\tvia fd00::22 on h16s660-rt0
fd00::5/128          blackhole [vips6 2026-12-01 04:52:10] * (200)
"""


def test_ipv6_routes_parsed_with_their_next_hops() -> None:
    """As a router's `show route` prints them (captured from the lab)."""
    found = birdshow.routes(ROUTES6)
    assert [(r.prefix, r.source, r.best, r.via) for r in found] == [
        ("fd00::4/128", "node6_n1", True, ("fd00::21",)),
        ("fd00::4/128", "node6_n2", False, ("fd00::22",)),
        ("fd00::5/128", "vips6", True, ()),
    ]


def test_routes_parsed_with_their_next_hops() -> None:
    found = birdshow.routes(ROUTES)
    assert [(r.prefix, r.source, r.best, r.via) for r in found] == [
        ("10.100.0.1/32", "n1", True, ("10.77.0.2",)),
        ("10.100.0.1/32", "n2", False, ("10.77.0.3",)),
        ("10.100.0.2/32", "vips", True, ()),
    ]
    assert birdshow.routes("BIRD 2.0.12 ready.\n") == []


def _parses(tmp_path: Path, text: str) -> None:
    conf = tmp_path / "b.conf"
    conf.write_text(text)
    done = subprocess.run(  # noqa: S603
        ["bird", "-p", "-c", str(conf)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr + text


def test_node_config(tmp_path: Path) -> None:
    conf = NodeConf("10.0.0.21", 65001, Peer("uplink", "10.0.0.1", 65000), ("10.100.0.1",))
    text = render_node(conf)
    assert "route 10.100.0.1/32 blackhole;" in text
    assert "bfd on;" in text and "graceful restart off;" in text
    assert "neighbor 10.0.0.1 as 65000;" in text and "local 10.0.0.21 as 65001;" in text
    _parses(tmp_path, text)
    withdrawn = render_node(NodeConf("10.0.0.21", 65001, Peer("uplink", "10.0.0.1", 65000)))
    assert "blackhole" not in withdrawn
    _parses(tmp_path, withdrawn)
    without_bfd = render_node(
        NodeConf("10.0.0.21", 65001, Peer("uplink", "10.0.0.1", 65000), bfd=None)
    )
    assert "bfd" not in without_bfd
    _parses(tmp_path, without_bfd)


def test_router_config(tmp_path: Path) -> None:
    peers = tuple(Peer(f"n{i}", f"10.0.0.{20 + i}", 65001) for i in (1, 2, 3))
    text = render_router(
        RouterConf("10.0.0.1", 65000, peers, "10.100.0.0/24", Bfd(50, 5), log="/tmp/x.log")
    )
    assert text.count("protocol bgp ") == 3
    assert "merge paths on limit 16;" in text
    assert "import where net ~ [ 10.100.0.0/24{32,32} ];" in text
    assert "min rx interval 50 ms;" in text and "multiplier 5;" in text
    _parses(tmp_path, text)


@pytest.mark.parametrize("name", ["1x", "a-b", "", "a" * 40])
def test_bad_names_refused(name: str) -> None:
    with pytest.raises(ValueError, match="bad BIRD protocol name"):
        check_name(name)


def test_node_config_with_an_ipv6_session(tmp_path: Path) -> None:
    conf = NodeConf(
        "10.0.0.21",
        65001,
        Peer("uplink", "10.0.0.1", 65000),
        ("fd00::4", "10.100.0.1", "fd00:0::5"),
        peer6=Peer("uplink6", "fd00::1", 65000),
        local6="fd00::21",
    )
    text = render_node(conf)
    # Each family over its own session, each with BFD.
    assert "route 10.100.0.1/32 blackhole;" in text
    assert "protocol static vips6 {\n  ipv6;\n  route fd00::4/128 blackhole;\n" in text
    assert "route fd00::5/128 blackhole;" in text and "fd00::4/32" not in text
    assert (
        "protocol bgp uplink6 {\n  local fd00::21 as 65001;\n  neighbor fd00::1 as 65000;\n" in text
    )
    six = text[text.index("protocol bgp uplink6") :]
    assert "bfd on;" in six and "  ipv6 {\n" in six and "ipv4" not in six
    four = text[text.index("protocol bgp uplink ") : text.index("protocol static vips6")]
    assert "  ipv4 {\n" in four and "ipv6" not in four
    _parses(tmp_path, text)
    withdrawn = render_node(replace(conf, vips=()))
    assert "blackhole" not in withdrawn and "protocol bgp uplink6" in withdrawn
    _parses(tmp_path, withdrawn)


def test_an_ipv6_vip_needs_an_ipv6_session() -> None:
    conf = NodeConf("10.0.0.21", 65001, Peer("uplink", "10.0.0.1", 65000), ("fd00::4",))
    with pytest.raises(ValueError, match="fd00::4: no IPv6 session"):
        render_node(conf)
    mixed = replace(conf, peer6=Peer("uplink6", "fd00::1", 65000), local6="10.0.0.21")
    with pytest.raises(ValueError, match="two families"):
        render_node(mixed)


def test_router_config_with_ipv6_sessions(tmp_path: Path) -> None:
    peers = tuple(Peer(f"n{i}", f"10.0.0.{20 + i}", 65001) for i in (1, 2, 3))
    peers6 = tuple(Peer(f"n6_{i}", f"fd00::{20 + i}", 65001) for i in (1, 2, 3))
    text = render_router(
        RouterConf(
            "10.0.0.1", 65000, peers, "10.100.0.0/24", peers6=peers6, local6="fd00::1",
            vip_range6="fd00::/120",
        )
    )  # fmt: skip
    assert text.count("protocol bgp ") == 6
    assert "protocol kernel kernel6 {\n  ipv6 {" in text
    assert text.count("merge paths on limit 16;") == 2
    assert "import where net ~ [ fd00::/120{128,128} ];" in text
    assert "local fd00::1 as 65000;\n  neighbor fd00::23 as 65001;" in text
    _parses(tmp_path, text)
    # Without IPv6 peers: no IPv6 kernel protocol, as before.
    assert "kernel6" not in render_router(RouterConf("10.0.0.1", 65000, peers, "10.100.0.0/24"))
