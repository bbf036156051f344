"""One probe tunnel per network namespace, as the daemon's routes hand it
out (daemon/health_routes.py) on real namespaces: two balancers in one
namespace share it (the second probes backends' own addresses, saying why);
a reload that drops the balancer holding it moves it to the other; a reload
that drops the namespace's balancers closes it."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from l4lb_tui.config_file import parse_config
from l4lb_tui.config_model import BalancerSpec
from l4lb_tui.daemon.health_routes import Routes
from l4lb_tui.health.adapters.tunnel import ProbeTunnel
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
        routes.finish()
        assert first.marks and not second.marks
        assert f"one probe tunnel per namespace, and {a} has it" in second.no_tunnel
        assert tunnel_route(ns) == [a]

        # The same two in the other order: the tunnel stays where it is.
        routes.begin((one, two))
        second, first = routes.plan(two), routes.plan(one)
        routes.finish()
        assert first.marks and not second.marks, (first, second)
        assert tunnel_route(ns) == [a]

        # The balancer holding it dropped: the tunnel follows to the other.
        before = time.monotonic()
        routes.begin((two,))
        second = routes.plan(two)
        routes.finish()
        assert second.marks and tunnel_route(ns) == [b]
        # A probe in flight while it moved is no verdict; one sent after is.
        assert routes.remade(ns, "10.98.1.11", before, 0.001)
        assert not routes.remade(ns, "10.98.1.11", time.monotonic(), 0.5)
        assert not routes.remade(ns, "fd98::11", before, 0.001), "no IPv6 tunnel moved"

        # The namespace's balancers dropped: the tunnel is closed.
        routes.begin(())
        routes.finish()
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
    said: list[str] = []
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
    routes = Routes(said.append)
    try:
        routes.begin((one,))
        route = routes.plan(one)
        assert set(route.marks) == {"10.98.1.11"} and route.tunnel_source == SOURCE
        assert route.through(one.services[0]) and not route.through(one.services[1])
        assert "fd98::3 is not an address of this host" in route.no_tunnel6, route
        # Nor are address probes sent from it (they could not be).
        assert route.address_source6 == "", route
        assert tunnel_route(ns) == [a]
        # The address there: the repair timer makes the IPv6 half, and asks
        # for a plan, which sends the IPv6 service through it.
        assert not routes.repair(), "nothing new while fd98::3 is missing"
        # On lo it is no better: the link would not answer neighbour
        # solicitations for it (x17 LOW-2: every answer lost, the journal
        # saying "through the probe tunnel").
        run(["ip", "-n", ns, "addr", "add", "fd98::3/128", "dev", "lo"])
        routes.begin((one,))
        route = routes.plan(one)
        assert not route.through(one.services[1])
        assert f"fd98::3 is on lo, not on {a}" in route.no_tunnel6, route
        assert route.address_source6 == "", "nor address probes from it"
        assert not routes.repair()
        run(["ip", "-n", ns, "addr", "del", "fd98::3/128", "dev", "lo"])
        run(["ip", "-n", ns, "addr", "add", "fd98::3/128", "dev", a, "nodad"])
        assert routes.repair()
        assert any("made it for IPv6 too" in line for line in said), said
        routes.begin((one,))
        route = routes.plan(one)
        assert set(route.marks) == {"10.98.1.11", "fd98::11"}, route
        assert route.through(one.services[1]) and route.tunnel_source6 == "fd98::3"
        assert route.address_source6 == "fd98::3"
        assert not routes.repair()
    finally:
        routes.stop()


def test_a_tunnel_whose_only_source_is_missing_waits_for_it(
    space: tuple[str, str, str],
) -> None:
    """No family can be opened: the services are probed at their addresses
    and the repair timer opens the tunnel once the source is there."""
    ns, a, _ = space
    run(["ip", "-n", ns, "addr", "del", f"{SOURCE}/24", "dev", a])
    said: list[str] = []
    routes = Routes(said.append)
    one = balancer(ns, a, 1)
    try:
        routes.begin((one,))
        route = routes.plan(one)
        routes.finish()
        assert not route.marks and f"{SOURCE} is not an address of this host" in route.no_tunnel
        assert tunnel_route(ns) == [] and not routes.repair() and said == []
        run(["ip", "-n", ns, "addr", "add", f"{SOURCE}/24", "dev", a])
        assert routes.repair() and tunnel_route(ns) == [a]
        assert said == [f"the probe tunnel on {a}: made it for IPv4: its source is an "
                        "address of this host now"]  # fmt: skip
        routes.begin((one,))
        assert routes.plan(one).through(one.services[0])
    finally:
        routes.stop()


def test_reloads_change_one_family_in_place(space: tuple[str, str, str]) -> None:
    """IPv6 services added and removed, probe_source6 removed, moved to an
    address not on the host and back, and reloads that change nothing: the
    IPv4 rules and route are never touched (x17 MEDIUM-1: each of these
    closed and reopened both families, and IPv4 probes in that moment were
    refused by the host's own stack)."""
    ns, a, _ = space
    run(["ip", "-n", ns, "addr", "add", "fd98::3/128", "dev", a, "nodad"])

    def config(ipv6: bool, source6: str | None = "fd98::3") -> BalancerSpec:
        v6 = (
            '[[balancer.service]]\nvip = "[fd98::4]:80/tcp"\n'
            'backends = [{ ip = "fd98::11", mac = "02:00:00:00:00:0c" }]\n'
            '[balancer.service.health]\ncheck = "tcp"\n'
        )
        src6 = f'probe_source6 = "{source6}"\n' if source6 else ""
        text = (
            f'[[balancer]]\ninterface = "{a}"\nnetns = "{ns}"\nprobe_source = "{SOURCE}"\n'
            f'{src6}[[balancer.service]]\nvip = "10.98.1.4:80/tcp"\n'
            'backends = [{ ip = "10.98.1.11", mac = "02:00:00:00:00:0b" }]\n'
            f'[balancer.service.health]\ncheck = "tcp"\n{v6 if ipv6 else ""}'
        )
        return parse_config(text).balancers[0]

    routes = Routes([].append)
    steps = [
        (config(True), True),
        (config(False), False),
        (config(True), True),
        (config(True, None), False),
        (config(True, "fd98::99"), False),
        (config(True, "fd98::99"), False),
        (config(True), True),
        (config(True), True),
    ]
    try:
        routes.begin((config(False),))
        first = routes.plan(config(False))
        v4_mark = first.marks["10.98.1.11"]
        with monitor(ns, "-4") as seen4, monitor(ns, "-6") as seen6:
            for bal, through6 in steps:
                routes.begin((bal,))
                route = routes.plan(bal)
                routes.finish()
                assert route.marks["10.98.1.11"] == v4_mark and route.through(bal.services[0])
                assert (len(bal.services) > 1 and route.through(bal.services[1])) == through6
        assert seen4 == [], "the IPv4 rules and route changed"
        # The IPv6 half was made and undone: 3 times each, nothing more.
        assert sum("lookup 19528" in line and "Deleted" not in line for line in seen6) == 3
    finally:
        routes.stop()


def test_the_ipv4_half_changes_without_touching_the_ipv6_one(space: tuple[str, str, str]) -> None:
    """The other way round: IPv4 services removed and added back, and
    probe_source removed, while the IPv6 service keeps its rule and route
    (and the program, which the IPv4 route shared, stays with it)."""
    ns, a, _ = space
    run(["ip", "-n", ns, "addr", "add", "fd98::3/128", "dev", a, "nodad"])

    def config(ipv4: bool, source: bool = True) -> BalancerSpec:
        v4 = (
            '[[balancer.service]]\nvip = "10.98.1.4:80/tcp"\n'
            'backends = [{ ip = "10.98.1.11", mac = "02:00:00:00:00:0b" }]\n'
            '[balancer.service.health]\ncheck = "tcp"\n'
        )
        src = f'probe_source = "{SOURCE}"\n' if source else ""
        text = (
            f'[[balancer]]\ninterface = "{a}"\nnetns = "{ns}"\n{src}probe_source6 = "fd98::3"\n'
            '[[balancer.service]]\nvip = "[fd98::4]:80/tcp"\n'
            'backends = [{ ip = "fd98::11", mac = "02:00:00:00:00:0c" }]\n'
            f'[balancer.service.health]\ncheck = "tcp"\n{v4 if ipv4 else ""}'
        )
        return parse_config(text).balancers[0]

    routes = Routes([].append)
    try:
        routes.begin((config(False),))
        v6_mark = routes.plan(config(False)).marks["fd98::11"]
        with monitor(ns, "-6") as seen6:
            for bal, through4 in ((config(True), True), (config(False), False),
                                  (config(True), True), (config(True, False), False),
                                  (config(True), True)):  # fmt: skip
                routes.begin((bal,))
                route = routes.plan(bal)
                routes.finish()
                assert route.marks["fd98::11"] == v6_mark and route.through(bal.services[0])
                assert (len(bal.services) > 1 and route.through(bal.services[1])) == through4
        assert seen6 == [], "the IPv6 rules and route changed"
    finally:
        routes.stop()


@contextlib.contextmanager
def monitor(ns: str, family: str) -> Iterator[list[str]]:
    """The lines `ip monitor rule route` prints of the family meanwhile."""
    lines: list[str] = []
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        ["ip", "-n", ns, family, "monitor", "rule", "route"], stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(0.2)  # listening
        yield lines
        time.sleep(0.2)  # the last changes said
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        # Without the kernel's own host routes for an added address.
        lines += [ln for ln in out.splitlines() if "table local" not in ln]


def test_what_a_killed_daemon_left_is_undone_by_a_daemon_without_checks(
    space: tuple[str, str, str],
) -> None:
    """x17 LOW-5: a killed daemon's rules, routes and accept_local stayed
    for good unless a later one opened a tunnel in that namespace."""
    ns, a, _ = space
    left = ProbeTunnel(a, SOURCE, netns=ns)
    left.open()  # and never closed: what SIGKILL leaves
    assert tunnel_route(ns) == [a]
    said: list[str] = []
    routes = Routes(said.append)
    text = (
        f'[[balancer]]\ninterface = "{a}"\nnetns = "{ns}"\n'
        '[[balancer.service]]\nvip = "10.98.1.4:80/tcp"\n'
        'backends = [{ ip = "10.98.1.11", mac = "02:00:00:00:00:0b" }]\n'
    )
    plain = parse_config(text).balancers[0]
    routes.begin((plain,))
    assert not routes.plan(plain).marks
    routes.finish()
    assert said == [f"undid the probe tunnel a killed daemon left in {ns}"], said
    assert tunnel_route(ns) == []
    rules = run(["ip", "-n", ns, "rule", "show"]).stdout
    assert "fwmark" not in rules and "lookup local" in rules, rules
    routes.begin((plain,))
    routes.finish()
    assert len(said) == 1, "once"
