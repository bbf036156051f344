"""BIRD configuration text and birdc output, without a running bird: the
configs rendered (and parsed by `bird -p`), captured birdc text parsed."""

from __future__ import annotations

import subprocess
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
