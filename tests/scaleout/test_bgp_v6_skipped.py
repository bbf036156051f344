"""HIGH-5 on real birds: a node whose config holds an IPv6 service still
announces its IPv4 VIPs (the route reaches the router's kernel), and says
once that the IPv6 VIP is not announced (its [bgp] has no IPv6 session)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui.balancer import Balancer
from l4lb_tui.bgp import Peer, RouterConf, Speaker
from l4lb_tui.bgp.birdconf import render_router
from l4lb_tui.config_file import parse_config
from l4lb_tui.daemon import announce_state
from l4lb_tui.daemon.announce import Announcer
from l4lb_tui.destinations import Destination
from l4lb_tui.services import parse_service
from tests.conftest import remove_pins_of, run
from tests.scaleout.test_bird_kernel import _wait

pytestmark = [pytest.mark.kernel, pytest.mark.scaleout]

VIP4, VIP6 = "10.99.4.4", "fd09::4"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """(router ns, node ns, the node's balancer link), a router bird running."""
    tag = uuid.uuid4().hex[:5]
    rt, node, lb = f"y17r{tag}", f"y17n{tag}", f"y17l{tag}"
    for ns in (rt, node):
        run(["ip", "netns", "add", ns])
    try:
        run(["ip", "-n", rt, "link", "add", f"y17r{tag}", "type", "veth",
             "peer", "name", f"y17n{tag}", "netns", node])  # fmt: skip
        for ns, dev, addr in (
            (rt, f"y17r{tag}", "10.98.0.1/24"),
            (node, f"y17n{tag}", "10.98.0.2/24"),
        ):
            run(["ip", "-n", ns, "addr", "add", addr, "dev", dev])
            run(["ip", "-n", ns, "link", "set", dev, "up"])
        run(["ip", "-n", node, "link", "add", lb, "type", "veth", "peer", "name", f"y17p{tag}"])
        router = Speaker(tmp_path / "rt", "router", rt)
        (tmp_path / "rt").mkdir()
        peer = Peer("n1", "10.98.0.2", 65001)
        router.start(render_router(RouterConf("10.98.0.1", 65000, (peer,), "10.99.4.0/24")))
        try:
            yield rt, node, lb
        finally:
            router.stop()
    finally:
        for ns in (rt, node):
            run(["ip", "netns", "del", ns], check=False)
        remove_pins_of(node)


def test_an_ipv6_service_leaves_the_ipv4_announcement_alone(
    lab: tuple[str, str, str], tmp_path: Path
) -> None:
    rt, node, lb = lab
    bal = Balancer(lb, netns=node)
    bal.attach("driver", saddr6="fd09::1")
    bal.load(parse_service(f"{VIP4}:80/tcp"), [Destination("10.99.4.11", "02:00:00:00:00:11")])
    bal.load(parse_service(f"[{VIP6}]:80/tcp"), [Destination("fd09::11", "02:00:00:00:00:11")])
    config = parse_config(
        f'[[balancer]]\ninterface = "{lb}"\nnetns = "{node}"\nsource = "10.98.0.2"\n'
        f'[[balancer.service]]\nvip = "{VIP4}:80/tcp"\n'
        'backends = [{ ip = "10.99.4.11", mac = "02:00:00:00:00:11" }]\n'
        f'[[balancer.service]]\nvip = "[{VIP6}]:80/tcp"\n'
        'backends = [{ ip = "fd09::11", mac = "02:00:00:00:00:11" }]\n'
        f'[bgp]\nasn = 65001\npeer = "10.98.0.1"\npeer_asn = 65000\nsource = "10.98.0.2"\n'
        f'netns = "{node}"\ndir = "{tmp_path / "node"}"\n'
    )
    assert config.bgp is not None
    said: list[str] = []
    status = tmp_path / "announce.json"
    ann = Announcer(config.bgp, said.append, tmp_path / "drained", status)
    ann.start()
    try:
        ann.tick(config, {})
        ann.tick(config, {})  # said once, not per tick
        assert ann.announced == {VIP4}
        skipped = [line for line in said if "IPv6 VIPs only" in line]
        assert skipped == [f"bgp: bgp announces IPv6 VIPs only over an IPv6 session: {VIP6} "
                           "served here but not announced (set peer6 and source6 in [bgp])"]  # fmt: skip
        route = lambda: run(["ip", "-n", rt, "route", "show", f"{VIP4}/32"]).stdout  # noqa: E731
        _wait("routed at the router", lambda: "via 10.98.0.2" in route())
        got = announce_state.read(status)
        assert got is not None and got.announced == [VIP4]
    finally:
        ann.stop()
        bal.detach()
