"""IPv6 addresses and bracketed service specs against hostile text: each
parses to the address a careful reader would expect, canonical, or is
refused with one short line."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l4lb_tui import abi, abi6, validation
from l4lb_tui.config_file import ConfigError, parse_config
from l4lb_tui.destinations import parse_text
from l4lb_tui.services import parse_service, service_spec
from tests.unit.test_validation import HOSTILE, one_line

SETTINGS = settings(max_examples=400, deadline=None)
ROLES = (validation.BACKEND, validation.VIP, validation.SOURCE)
V6ISH = st.text(alphabet=st.sampled_from([*"0123456789abcdefABCDEF:.%[] x"]), max_size=45)


def not_unicast6(addr: ipaddress.IPv6Address, link_local_ok: bool) -> bool:
    return (
        addr.is_unspecified
        or addr.is_loopback
        or addr.is_multicast
        or addr.ipv4_mapped is not None
        or (addr.is_link_local and not link_local_ok)
    )


@SETTINGS
@given(st.ip_addresses(v=6))
def test_every_unicast_v6_address_is_accepted_canonical(addr: ipaddress.IPv6Address) -> None:
    for role in ROLES:
        for text in (str(addr), addr.exploded, addr.exploded.upper()):
            if not_unicast6(addr, role.link_local):
                with pytest.raises(ValueError, match="which cannot be") as err:
                    validation.ip_address(text, role)
                one_line(err.value)
            else:
                assert validation.ip_address(text, role) == addr.compressed


@SETTINGS
@given(HOSTILE | V6ISH)
def test_v6ish_text_parses_to_that_address_or_is_refused(text: str) -> None:
    for role in ROLES:
        try:
            found = validation.ip_address(text, role)
        except ValueError as exc:
            one_line(exc)
            continue
        if ":" in text:
            addr = ipaddress.IPv6Address(text.strip())
            assert found == addr.compressed and "%" not in text
            assert not not_unicast6(addr, role.link_local)
        else:
            assert found == str(ipaddress.IPv4Address(found))


@SETTINGS
@given(
    st.from_regex(r"\[fd00::[0-9a-f]{1,4}\](:[0-9*]{0,6})?(/(tcp|udp|TCP))?", fullmatch=True)
    | st.from_regex(r"\[?[0-9a-f:]{0,12}\]?(:[0-9]{0,5})?(/tcp)?", fullmatch=True)
    | V6ISH
)
def test_v6_service_specs(text: str) -> None:
    try:
        keys = parse_service(text)
    except ValueError as exc:
        one_line(exc)
        return
    assert keys and all(0 <= k.port <= 65535 for k in keys)
    for k in keys:
        if abi6.is_ip6(k.vip):
            assert text.strip().startswith("["), "an IPv6 VIP is only ever taken in brackets"
            assert not not_unicast6(ipaddress.IPv6Address(k.vip), False)
        assert parse_service(service_spec(k)) == [k], "a spec reads back to its key"
        assert str(k).startswith("[") == abi6.is_ip6(k.vip)


def test_v6_service_spec_forms() -> None:
    assert parse_service("[2001:DB8::4]:8080/tcp") == [abi.ServiceKey("2001:db8::4", 8080, 6)]
    assert parse_service("[2001:db8::4]/udp") == [abi.ServiceKey("2001:db8::4", 0, 17)]
    assert str(abi.ServiceKey("2001:db8::4", 0, 17)) == "[2001:db8::4]:*/udp"
    for bad, says in [
        ("2001:db8::4/tcp", "in brackets"),
        ("2001:db8::4:80", "in brackets"),
        ("[2001:db8::4]80", "[ADDRESS]:PORT"),
        ("[10.0.0.4]:80", "[ADDRESS]:PORT"),
        ("[2001:db8::4]:", "[2001:db8::4]:0"),
        ("[fe80::1]:80", "link-local"),
        ("[fe80::1%eth0]:80", "is not an IPv6 address"),
    ]:
        with pytest.raises(ValueError, match=None) as err:
            parse_service(bad)
        assert says in one_line(err.value), bad


def test_a_destinations_file_takes_v6_backends() -> None:
    result = parse_text(
        "ipv6,mac,weight\n2001:DB8::11,02:00:00:00:00:11,3\nfe80::2,02:00:00:00:00:12\n"
    )
    assert [(d.ip, d.weight) for d in result.destinations] == [("2001:db8::11", 3)]
    # a link-local backend is refused in either family (validation.BACKEND)
    assert any("fe80::2 is a link-local address" in str(e) for e in result.errors)


def test_abi_fold_is_the_data_planes() -> None:
    """addr6_fold: the xor of the four words as a little-endian CPU loads
    them, and a slot's ip never 0."""
    raw = ipaddress.IPv6Address("2001:db8::1").packed
    words = [int.from_bytes(raw[i : i + 4], "little") for i in range(0, 16, 4)]
    assert abi6.addr6_fold("2001:db8::1") == words[0] ^ words[1] ^ words[2] ^ words[3]
    assert abi6.addr6_fold("1::1:0") == 0 and abi6.fold_bytes("1::1:0") == abi.u32(1)
    assert (
        abi.vip_filter_bit("2001:db8::1")
        == (abi6.addr6_fold("2001:db8::1") * 0x9E3779B1 & 0xFFFFFFFF) >> 16
    )


MIXED = """\
[[balancer]]
interface = "eth1"

[[balancer.service]]
vip = "[2001:db8::4]:8080/tcp"
backends = [{ ip = "2001:db8::11", mac = "02:00:00:00:00:11" }]

[[balancer.service]]
vip = "10.0.0.4:8080/tcp"
backends = [
  { ip = "10.0.0.11", mac = "02:00:00:00:00:0b" },
  { ip = "2001:db8::12", mac = "02:00:00:00:00:12" },
]
"""


def test_a_mixed_config_is_checked_service_by_service() -> None:
    """A file may hold services of both families; each service's backends
    must be of its own."""
    with pytest.raises(ConfigError) as err:
        parse_config(MIXED)
    (problem,) = err.value.problems
    assert problem.key == "balancer[0].service[1].backends"
    assert "VIP 10.0.0.4 is IPv4 and backend 2001:db8::12 is IPv6" in problem.message
    fixed = MIXED.replace('  { ip = "2001:db8::12", mac = "02:00:00:00:00:12" },\n', "")
    (balancer,) = parse_config(fixed).balancers
    assert [s.keys[0].vip for s in balancer.services] == ["2001:db8::4", "10.0.0.4"]


def test_a_load_names_the_family_by_line() -> None:
    text = "2001:db8::11, 02:00:00:00:00:0b\n10.0.0.11, 02:00:00:00:00:0c\n"
    result = parse_text(text, {"2001:db8::4"}, families=True)
    assert [e.line for e in result.errors] == [2]
    assert "is IPv6 and backend 10.0.0.11 is IPv4" in result.errors[0].message
    assert [d.ip for d in result.destinations] == ["2001:db8::11"] and result.lines == (1,)


def test_the_bracket_hint_is_one_line() -> None:
    """Hypothesis found ':\\n:' (two colons, a line break) put raw into the hint."""
    with pytest.raises(ValueError) as err:
        parse_service(":\n:")
    assert "\n" not in str(err.value) and "'[:\\n:]'" in str(err.value), str(err.value)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("fd00::4:8080/tcp", "as '[fd00::4]:8080/tcp' or '[fd00::4:8080]/tcp'"),
        ("fd00::4]:8080/tcp", "as '[fd00::4]:8080/tcp'"),
        ("fd00::4/tcp", "as '[fd00::4]/tcp'"),
        ("[fd00::4]: 8080/tcp", "no spaces inside a service"),
    ],
)
def test_the_bracket_hint_rebuilds_the_vip_with_its_protocol(bad: str, says: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_service(bad)
    assert says in one_line(err.value), str(err.value)
