"""One probe tunnel per network namespace, as the daemon's routes hand it
out (daemon/health_routes.py) on real namespaces: two balancers in one
namespace share it (the second probes backends' own addresses, saying why);
a reload that drops the balancer holding it moves it to the other; a reload
that drops the namespace's balancers closes it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from l4lb_tui.config_file import parse_config
from l4lb_tui.config_model import BalancerSpec
from l4lb_tui.daemon.health_routes import Routes
from tests.conftest import run

pytestmark = pytest.mark.kernel
SOURCE = "10.98.0.3"


@pytest.fixture
def space() -> Iterator[tuple[str, str, str]]:
    """A namespace with two veth pairs: (netns, one interface, the other)."""
    tag = f"hfin{uuid.uuid4().hex[:6]}"
    ns, a, b = tag, f"{tag}a", f"{tag}b"
    run(["ip", "netns", "add", ns])
    try:
        for dev in (a, b):
            run(["ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", f"{dev}p"])
            run(["ip", "-n", ns, "link", "set", dev, "up"])
        run(["ip", "-n", ns, "addr", "add", f"{SOURCE}/24", "dev", a])
        yield ns, a, b
    finally:
        run(["ip", "netns", "del", ns], check=False)


def balancer(ns: str, dev: str, third: int) -> BalancerSpec:
    text = (
        f'[[balancer]]\ninterface = "{dev}"\nnetns = "{ns}"\nprobe_source = "{SOURCE}"\n'
        f'[[balancer.service]]\nvip = "10.98.{third}.4:80/tcp"\n'
        f'backends = [{{ ip = "10.98.{third}.11", mac = "02:00:00:00:00:0b" }}]\n'
        '[balancer.service.health]\ncheck = "tcp"\n'
    )
    return parse_config(text).balancers[0]


def tunnel_route(ns: str) -> list[str]:
    """The interfaces the namespace's probe tunnel routes leave by."""
    out = run(["ip", "-n", ns, "-j", "route", "show", "table", "all", "proto", "0x4c"])
    return sorted(r.get("dev", "") for r in json.loads(out.stdout or "[]") if "encap" in r)


def test_two_balancers_in_one_namespace_share_its_tunnel(
    space: tuple[str, str, str],
) -> None:
    ns, a, b = space
    said: list[str] = []
    routes = Routes(said.append)
    one, two = balancer(ns, a, 1), balancer(ns, b, 2)
    try:
        routes.begin((one, two))
        first, second = routes.plan(one), routes.plan(two)
        routes.keep_only({ns})
        assert first.marks and not second.marks
        assert f"one probe tunnel per namespace, and {a} has it" in second.no_tunnel
        assert tunnel_route(ns) == [a]

        # The same two in the other order: the tunnel stays where it is.
        routes.begin((one, two))
        second, first = routes.plan(two), routes.plan(one)
        routes.keep_only({ns})
        assert first.marks and not second.marks, (first, second)
        assert tunnel_route(ns) == [a]

        # The balancer holding it dropped: the tunnel follows to the other.
        routes.begin((two,))
        second = routes.plan(two)
        routes.keep_only({ns})
        assert second.marks and tunnel_route(ns) == [b]

        # The namespace's balancers dropped: the tunnel is closed.
        routes.begin(())
        routes.keep_only(set())
        assert tunnel_route(ns) == [] and not routes.tunnels
        assert any("closed the probe tunnel" in line for line in said), said
    finally:
        routes.stop()


def test_one_familys_source_missing_from_the_host_leaves_the_other_its_tunnel(
    space: tuple[str, str, str],
) -> None:
    """probe_source6 not on the host: the IPv4 services still go through the
    tunnel, and the IPv6 ones say why they are probed at their addresses."""
    ns, a, _ = space
    v6 = (
        '[[balancer.service]]\nvip = "[fd98::4]:80/tcp"\n'
        'backends = [{ ip = "fd98::11", mac = "02:00:00:00:00:0c" }]\n'
        '[balancer.service.health]\ncheck = "tcp"\n'
    )
    text = (
        f'[[balancer]]\ninterface = "{a}"\nnetns = "{ns}"\nprobe_source = "{SOURCE}"\n'
        'probe_source6 = "fd98::3"\n'
        '[[balancer.service]]\nvip = "10.98.1.4:80/tcp"\n'
        'backends = [{ ip = "10.98.1.11", mac = "02:00:00:00:00:0b" }]\n'
        f'[balancer.service.health]\ncheck = "tcp"\n{v6}'
    )
    one = parse_config(text).balancers[0]
    routes = Routes([].append)
    try:
        routes.begin((one,))
        route = routes.plan(one)
        assert set(route.marks) == {"10.98.1.11"} and route.tunnel_source == SOURCE
        assert route.through(one.services[0]) and not route.through(one.services[1])
        assert "fd98::3 is not an address of this host" in route.no_tunnel6, route
        assert tunnel_route(ns) == [a]
        # With the address there, both families share the tunnel.
        run(["ip", "-n", ns, "addr", "add", "fd98::3/128", "dev", a, "nodad"])
        routes.begin((one,))
        route = routes.plan(one)
        assert set(route.marks) == {"10.98.1.11", "fd98::11"}, route
        assert route.through(one.services[1]) and route.tunnel_source6 == "fd98::3"
    finally:
        routes.stop()
