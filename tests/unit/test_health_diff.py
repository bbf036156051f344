"""A reload's changes to the health checks are said (no kernel)."""

from __future__ import annotations

from l4lb_tui.config_file import parse_config
from l4lb_tui.daemon.health_diff import health_changes

BASE = """\
[[balancer]]
interface = "eth1"
[[balancer.service]]
vip = "10.0.0.4:80/tcp"
backends = [{ ip = "10.0.0.11", mac = "02:00:00:00:00:0b" }]
[balancer.service.health]
check = "tcp"
interval = 1.0
"""


def test_a_changed_interval_is_said_and_nothing_else_is() -> None:
    old = parse_config(BASE)
    new = parse_config(BASE.replace("interval = 1.0", "interval = 2.0\nfall = 5"))
    assert health_changes(old, new) == [
        "eth1: 10.0.0.4:80/tcp: health interval 1.0 -> 2.0, health fall 3 -> 5"
    ]
    assert health_changes(old, parse_config(BASE)) == []
    assert health_changes(None, new) == []


def test_a_check_removed_is_said() -> None:
    old = parse_config(BASE)
    new = parse_config(BASE.split("[balancer.service.health]")[0])
    assert health_changes(old, new) == ["eth1: 10.0.0.4:80/tcp: health check removed"]


def test_a_changed_probe_source_is_said() -> None:
    """x17 LOW-4: a reload that only moved probe_source6 answered "nothing
    to change" while every IPv6 check took the new source."""
    old = parse_config(BASE.replace('"eth1"', '"eth1"\nprobe_source6 = "fd00::3"'))
    new = parse_config(BASE.replace('"eth1"', '"eth1"\nprobe_source6 = "fd00::99"'))
    assert health_changes(old, new) == ["eth1: probe_source6 'fd00::3' -> 'fd00::99'"]
    assert health_changes(old, parse_config(BASE)) == ["eth1: probe_source6 'fd00::3' -> None"]
