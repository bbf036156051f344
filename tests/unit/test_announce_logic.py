"""The [bgp] table of a config, and which VIPs a node announces (pure)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from l4lb_tui.config_file import ConfigError, parse_config
from l4lb_tui.config_model import BgpSpec, Config
from l4lb_tui.daemon.announce_state import wanted
from l4lb_tui.metrics import ServiceHealth

BASE = """\
[[balancer]]
interface = "n10"
source = "10.0.0.21"

[[balancer.service]]
vip = "10.0.0.4:8080/tcp"
backends = [{ ip = "10.0.0.11", mac = "02:00:00:00:00:0b" }]
[balancer.service.health]
check = "http"
quorum = 1

[[balancer.service]]
vip = "10.0.0.5:9000/udp"
backends = [{ ip = "10.0.0.11", mac = "02:00:00:00:00:0b" }]
"""
BGP = '[bgp]\nasn = 65001\npeer = "10.0.0.1"\npeer_asn = 65000\nsource = "10.0.0.21"\n'


def _config(extra: str = BGP) -> Config:
    return parse_config(BASE + extra)


def test_bgp_table_read() -> None:
    assert _config("").bgp is None
    assert _config().bgp == BgpSpec(65001, "10.0.0.1", 65000, "10.0.0.21")
    off = _config(BGP + 'enabled = false\nbfd = false\nnetns = "n1"\ndir = "/run/x"\n').bgp
    assert off == BgpSpec(65001, "10.0.0.1", 65000, "10.0.0.21", False, False, "n1", "/run/x")


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ('[bgp]\npeer = "10.0.0.1"\npeer_asn = 65000\nsource = "10.0.0.21"\n', "bgp.asn: required"),
        (BGP.replace("65000", "0"), "bgp.peer_asn: must be an AS number"),
        (BGP.replace('peer = "10.0.0.1"', 'peer = "router"'), "is not an IPv4 address"),
        (BGP.replace('"10.0.0.21"', '"10.0.0.4"'), "bgp.source: 10.0.0.4 is a VIP"),
        (BGP + "hold = 3\n", "unknown key 'hold'"),
        (BGP + 'dir = "relative"\n', "bgp.dir: must be an absolute path"),
        (BGP + 'bfd = "yes"\n', "bgp.bfd: must be true or false"),
    ],
)
def test_bgp_table_errors(extra: str, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        _config(extra)
    assert said in str(err.value)
    assert err.value.problems[0].line > 0


def _health(healthy: int, quorum: int = 1) -> ServiceHealth:
    return ServiceHealth(frozenset(f"10.0.0.{i}" for i in range(healthy)), quorum, False)


def test_what_a_node_announces() -> None:
    config = _config()
    here = ("n10", None)
    ok = {here: {"10.0.0.4:8080/tcp": _health(1)}}
    assert wanted(config, {here: True}, ok, drained=False) == {"10.0.0.4", "10.0.0.5"}
    # Drained: nothing.  Detached: nothing.
    assert wanted(config, {here: True}, ok, drained=True) == frozenset()
    assert wanted(config, {here: False}, ok, drained=False) == frozenset()
    # A checked service without a verdict yet, or below its quorum, keeps
    # its VIP back; the unchecked one is announced while attached.
    assert wanted(config, {here: True}, {}, drained=False) == {"10.0.0.5"}
    below = {here: {"10.0.0.4:8080/tcp": _health(1, quorum=2)}}
    assert wanted(config, {here: True}, below, drained=False) == {"10.0.0.5"}
    none = {here: {"10.0.0.4:8080/tcp": _health(0)}}
    assert wanted(config, {here: True}, none, drained=False) == {"10.0.0.5"}


def test_a_vip_needs_every_service_on_it() -> None:
    config = parse_config(BASE.replace("10.0.0.5:9000/udp", "10.0.0.4:9000/udp") + BGP)
    here = ("n10", None)
    ok = {here: {"10.0.0.4:8080/tcp": _health(1)}}
    assert wanted(config, {here: True}, ok, drained=False) == {"10.0.0.4"}
    assert wanted(config, {here: True}, {}, drained=False) == frozenset()


def _l4lb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip


def test_cli_refusals_change_nothing(tmp_path: Path) -> None:
    for nodes in ("1", "17", "x"):
        done = _l4lb("lab", "up", "--nodes", nodes)
        assert done.returncode == 2 and "nodes" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    done = _l4lb("lab", "up", "--no-bfd", "--prefix", "h16nobfd")
    assert done.returncode == 2 and "give --nodes N" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    env = {**os.environ, "L4LB_RUN_DIR": str(tmp_path)}
    done = _l4lb("node", "status", env=env)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"l4lb: error: no l4lb daemon runs in {tmp_path} (start one with 'l4lb daemon -c FILE')"
    )
    assert list(tmp_path.iterdir()) == []


V6 = """
[[balancer.service]]
vip = "[fd09::4]:80/tcp"
backends = [{ ip = "fd09::11", mac = "02:00:00:00:00:0c" }]
"""


def test_an_ipv6_service_never_stops_the_ipv4_announcements() -> None:
    from l4lb_tui.bgp.birdconf import NodeConf, Peer, render_node
    from l4lb_tui.config_bgp import unannounced_line

    config = parse_config(BASE + V6 + BGP)
    here = ("n10", None)
    ok = {here: {"10.0.0.4:8080/tcp": _health(1)}}
    want = wanted(config, {here: True}, ok, drained=False)
    assert want == {"10.0.0.4", "10.0.0.5"}
    # What the daemon hands BIRD renders: the IPv4 VIPs, no IPv6 one.
    text = render_node(NodeConf("10.0.0.21", 65001, Peer("uplink", "10.0.0.1", 65000), tuple(want)))
    assert "10.0.0.4/32" in text and "fd09" not in text
    line = unannounced_line(config)
    assert line == (
        "bgp announces IPv6 VIPs only over an IPv6 session: fd09::4 served here but "
        "not announced (set peer6 and source6 in [bgp])"
    )
    assert unannounced_line(_config()) is None
    assert unannounced_line(parse_config(BASE + V6)) is None  # no [bgp]: nothing to say


def test_check_says_which_vips_bgp_leaves_out(tmp_path: Path) -> None:
    conf = tmp_path / "y17-bgp.toml"
    conf.write_text(BASE + V6 + BGP)
    res = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "check", str(conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "note: bgp announces IPv6 VIPs only over an IPv6 session: fd09::4" in res.stdout
    # With the IPv6 session configured, the IPv6 VIP is announced: no note.
    conf.write_text(BASE + V6 + BGP + BGP6)
    res = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "check", str(conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "note:" not in res.stdout, res.stdout


BGP6 = 'peer6 = "fd00::1"\nsource6 = "fd00::21"\n'


def test_the_ipv6_session_read() -> None:
    spec = _config(BGP + BGP6).bgp
    assert spec == BgpSpec(
        65001, "10.0.0.1", 65000, "10.0.0.21", peer6="fd00::1", source6="fd00::21"
    )
    # Written in full or compressed, one address.
    full = _config(BGP + 'peer6 = "fd00:0::1"\nsource6 = "FD00::21"\n').bgp
    assert full is not None and (full.peer6, full.source6) == ("fd00::1", "fd00::21")


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ('peer6 = "fd00::1"\n', "bgp.source6: required with peer6"),
        ('source6 = "fd00::21"\n', "bgp.peer6: required with source6"),
        ('peer6 = "10.0.0.1"\nsource6 = "fd00::21"\n', "bgp.peer6: '10.0.0.1' is not an IPv6"),
        ('peer6 = "fe80::1"\nsource6 = "fd00::21"\n', "bgp.peer6: fe80::1 is link-local"),
        ('peer6 = "fd00::1"\nsource6 = "fd00::1"\n', "bgp.source6: must not be the peer's"),
        ('peer6 = "fd00::1"\nsource6 = "fd09::4"\n', "bgp.source6: fd09::4 is a VIP"),
        ('peer6 = "::1"\nsource6 = "fd00::21"\n', "bgp.peer6: ::1 cannot be a BGP peer's"),
    ],
)
def test_the_ipv6_session_errors(extra: str, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(BASE + V6 + BGP + extra)
    assert said in str(err.value)


def test_ipv6_vips_announced_by_the_same_rules() -> None:
    """With an IPv6 session, an IPv6 VIP follows the IPv4 ones' rules:
    attached and at quorum, withheld below it, withdrawn on a drain."""
    from l4lb_tui.config_bgp import unannounced_line

    checked = V6 + '[balancer.service.health]\ncheck = "http"\nquorum = 1\n'
    config = parse_config(BASE + checked + BGP + BGP6)
    here = ("n10", None)
    ok = {here: {"10.0.0.4:8080/tcp": _health(1), "[fd09::4]:80/tcp": _health(1)}}
    assert wanted(config, {here: True}, ok, False, ipv6=True) == {
        "10.0.0.4", "10.0.0.5", "fd09::4"
    }  # fmt: skip
    below = {here: {"10.0.0.4:8080/tcp": _health(1), "[fd09::4]:80/tcp": _health(0)}}
    assert wanted(config, {here: True}, below, False, ipv6=True) == {"10.0.0.4", "10.0.0.5"}
    assert wanted(config, {here: True}, ok, True, ipv6=True) == frozenset()
    assert wanted(config, {here: False}, ok, False, ipv6=True) == frozenset()
    # Without the session, the IPv6 VIP is left out (and said once).
    assert wanted(config, {here: True}, ok, False) == {"10.0.0.4", "10.0.0.5"}
    assert unannounced_line(config) is None
