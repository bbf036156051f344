"""What an apply of the daemon sees with remove mode's removals withheld."""

from __future__ import annotations

from l4lb_tui.config_file import parse_config
from l4lb_tui.daemon.health_writes import check_name, withhold

TEXT = """\
[[balancer]]
interface = "lb0"
netns = "ns"

[[balancer.service]]
vip = "10.0.0.4:53"
backends = [
  { ip = "10.0.0.11", mac = "02:00:00:00:00:0b" },
  { ip = "10.0.0.12", mac = "02:00:00:00:00:0c" },
]
[balancer.service.health]
check = "tcp"
on_failure = "ON_FAILURE"
"""


def test_a_removed_backend_is_withheld_only_from_its_own_service() -> None:
    config = parse_config(TEXT.replace("ON_FAILURE", "remove"))
    bal = config.balancers[0]
    tcp, udp = bal.services[0].keys
    gone = {check_name(bal, tcp): frozenset({"10.0.0.12"})}
    seen = {
        key: [b.ip for b in s.backends]
        for s in withhold(config, gone).balancers[0].services
        for key in s.keys
    }
    assert seen == {tcp: ["10.0.0.11"], udp: ["10.0.0.11", "10.0.0.12"]}
    assert check_name(bal, tcp) == f"{tcp} on lb0 in ns"


def test_drain_mode_withholds_nothing() -> None:
    config = parse_config(TEXT.replace("ON_FAILURE", "drain"))
    bal = config.balancers[0]
    gone = {check_name(bal, bal.services[0].keys[0]): frozenset({"10.0.0.12"})}
    assert withhold(config, gone) == config
