"""Where the daemon's probes of IPv6 backends go, and how the journal says it
(pure: the route is given, no tunnel is opened)."""

from __future__ import annotations

from l4lb_tui.abi import ServiceKey
from l4lb_tui.config_model import HealthSpec, ServiceSpec
from l4lb_tui.daemon.health_routes import Route

ROUTE = Route({"10.0.0.11": 7}, "10.0.0.3", "10.0.0.3", "", address_source6="fd00::1")


def spec(vip: str) -> ServiceSpec:
    return ServiceSpec(f"{vip}:80/tcp", (ServiceKey(vip, 80, 6),), (), health=HealthSpec("http"))


def test_ipv6_backends_are_probed_from_an_ipv6_source_at_their_address() -> None:
    assert ROUTE.source_for("fd00::11", tunnel=False) == "fd00::1"
    assert ROUTE.source_for("10.0.0.12", tunnel=False) == "10.0.0.3"
    assert ROUTE.source_for("10.0.0.11", tunnel=True) == "10.0.0.3"


def test_the_journal_says_why_an_ipv6_service_is_not_tunnelled() -> None:
    said = ROUTE.describe(spec("fd00::4"), through_tunnel=False)
    assert said == (
        "health checks go to the backends' own addresses "
        "(IPv6: the probe tunnel is IPIP), from fd00::1"
    )
    assert "through the probe tunnel" in ROUTE.describe(spec("10.0.0.4"), through_tunnel=True)
