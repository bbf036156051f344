"""Where the daemon's probes of IPv6 backends go, and how the journal says it
(pure: the route is given, no tunnel is opened)."""

from __future__ import annotations

from l4lb_tui.abi import ServiceKey
from l4lb_tui.config_model import HealthSpec, ServiceSpec
from l4lb_tui.daemon.health_routes import Route

# A tunnel for IPv4 backends only (no probe_source6).
ROUTE = Route(
    {"10.0.0.11": 7},
    "10.0.0.3",
    "10.0.0.3",
    "",
    address_source6="fd00::1",
    no_tunnel6="no probe_source6: the tunnel needs one",
)
# One tunnel for both families.
BOTH = Route({"10.0.0.11": 7, "fd00::11": 8}, "10.0.0.3", "10.0.0.3", "", "fd00::1", "fd00::3", "")


def spec(vip: str, target: str = "") -> ServiceSpec:
    health = HealthSpec("http", target=target)
    return ServiceSpec(f"{vip}:80/tcp", (ServiceKey(vip, 80, 6),), (), health=health)


def test_ipv6_backends_are_probed_from_an_ipv6_source() -> None:
    assert ROUTE.source_for("fd00::11", tunnel=False) == "fd00::1"
    assert ROUTE.source_for("10.0.0.12", tunnel=False) == "10.0.0.3"
    assert ROUTE.source_for("10.0.0.11", tunnel=True) == "10.0.0.3"
    assert BOTH.source_for("fd00::11", tunnel=True) == "fd00::3"


def test_an_ipv6_service_goes_through_the_tunnel_where_it_has_an_ipv6_source() -> None:
    assert not ROUTE.through(spec("fd00::4")) and ROUTE.through(spec("10.0.0.4"))
    assert BOTH.through(spec("fd00::4")) and BOTH.through(spec("10.0.0.4"))
    assert not BOTH.through(spec("fd00::4", target="address"))
    said = BOTH.describe(spec("fd00::4"), through_tunnel=True)
    assert said == "health checks go through the probe tunnel to the VIP, from fd00::3"


def test_the_journal_says_why_an_ipv6_service_is_not_tunnelled() -> None:
    said = ROUTE.describe(spec("fd00::4"), through_tunnel=False)
    assert said == (
        "health checks go to the backends' own addresses "
        "(no probe_source6: the tunnel needs one), from fd00::1"
    )
    assert "through the probe tunnel" in ROUTE.describe(spec("10.0.0.4"), through_tunnel=True)
    assert "(target = address)" in BOTH.describe(spec("fd00::4", "address"), through_tunnel=False)
