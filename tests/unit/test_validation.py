"""The validation layer against hostile text: every input parses to what a
careful reader would expect, or is refused with one short line."""

from __future__ import annotations

import ipaddress
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l4lb_tui import abi, validation
from l4lb_tui.destinations import is_header, parse_text
from l4lb_tui.services import merge_services, parse_service

# Text an operator, a script with an empty variable or a wrong file may hand
# over: digits of other scripts, signs, spaces of all kinds, separators,
# control characters, and plain ASCII.
HOSTILE = st.text(
    alphabet=st.sampled_from(
        [
            *"0123456789.:-/*,;# abcdefxABCDEF\t\r\n\x00\x0b\x0c",
            *("\uff13", "\xb3", "\u0663", "\u00a0", "\u2028", "\u202e", "\ufeff", "e", "n", "i"),
        ]
    ),
    max_size=40,
) | st.text(max_size=40)
SETTINGS = settings(max_examples=400, deadline=None)


def one_line(exc: ValueError) -> str:
    text = str(exc)
    assert text and "\n" not in text and "\r" not in text, repr(text)
    assert len(text) < 300, text
    return text


def refused(parse: object, text: str) -> str:
    with pytest.raises(ValueError) as err:
        parse(text)  # type: ignore[operator]
    return one_line(err.value)


def not_unicast(addr: ipaddress.IPv4Address, link_local_ok: bool) -> bool:
    return (
        addr.is_multicast
        or addr.is_loopback
        or addr in ipaddress.IPv4Network("0.0.0.0/8")
        or addr in ipaddress.IPv4Network("240.0.0.0/4")
        or (addr.is_link_local and not link_local_ok)
    )


# -- properties ------------------------------------------------------------------


@SETTINGS
@given(HOSTILE)
def test_whole_numbers_are_ascii_digits_in_range(text: str) -> None:
    try:
        value = validation.whole_number(text, "weight", 0, validation.MAX_WEIGHT)
    except ValueError as exc:
        one_line(exc)
        return
    raw = text.strip()
    assert raw.isascii() and raw.isdigit() and int(raw) == value <= validation.MAX_WEIGHT


@SETTINGS
@given(HOSTILE | st.floats().map(str))
def test_seconds_are_finite_plain_decimals_in_range(text: str) -> None:
    try:
        value = validation.seconds(text, "interval", 0.01, 3600)
    except ValueError as exc:
        one_line(exc)
        return
    assert math.isfinite(value) and 0.01 <= value <= 3600
    assert text.strip().isascii() and not set(text.strip()) - set("0123456789.")


@SETTINGS
@given(HOSTILE | st.ip_addresses(v=4).map(str))
def test_addresses_parse_to_the_same_unicast_address_or_are_refused(text: str) -> None:
    for role in (validation.BACKEND, validation.VIP, validation.SOURCE):
        try:
            found = validation.ipv4(text, role)
        except ValueError as exc:
            one_line(exc)
            continue
        addr = ipaddress.IPv4Address(found)
        assert str(addr) == found == text.strip()
        assert not not_unicast(addr, role.link_local)


@SETTINGS
@given(st.ip_addresses(v=4))
def test_every_unicast_address_is_accepted(addr: ipaddress.IPv4Address) -> None:
    for role in (validation.BACKEND, validation.VIP, validation.SOURCE):
        accepted = not not_unicast(addr, role.link_local)
        if accepted:
            assert validation.ipv4(str(addr), role) == str(addr)
        else:
            assert "which cannot be" in refused(lambda t, r=role: validation.ipv4(t, r), str(addr))


@SETTINGS
@given(HOSTILE | st.binary(min_size=6, max_size=6).map(lambda b: b.hex(":", 1)))
def test_macs_are_unicast_and_canonical(text: str) -> None:
    try:
        found = validation.mac(text)
    except ValueError as exc:
        one_line(exc)
        return
    raw = bytes.fromhex(found.replace(":", ""))
    assert len(raw) == 6 and not raw[0] & 1 and raw != bytes(6)
    assert found == text.strip().replace("-", ":").lower()


@SETTINGS
@given(HOSTILE)
def test_names_are_taken_whole_or_refused(text: str) -> None:
    try:
        found = validation.ifname(text)
    except ValueError as exc:
        one_line(exc)
    else:
        # Whatever the kernel takes (dev_valid_name): 1-15 bytes, not . or ..,
        # no '/', ':', NUL or what its isspace() takes.
        raw = text.encode(errors="surrogateescape")
        assert found == text and 0 < len(raw) <= 15 and text not in {".", ".."}
        assert not set(raw) & set(b"/:\0\t\n\v\f\r \xa0")
    try:
        found = validation.netns_name(text)
    except ValueError as exc:
        one_line(exc)
    else:
        # Whatever `ip netns add` takes: 1-255 bytes, no '/', not . or ..
        raw = text.encode(errors="surrogateescape")
        assert found == text and 0 < len(raw) <= 255 and "/" not in text
        assert text not in {".", ".."}


@pytest.mark.parametrize("name", ["tuv+r", "a,b#!", "-x", "xé", "a%d", "é" * 7, "x" * 15])
def test_every_name_the_kernel_takes_is_an_interface_name(name: str) -> None:
    assert validation.ifname(name) == name


@pytest.mark.parametrize("name", ["a b", "a/b", "a:b", "a\tb", "xà", ".", "..", "é" * 8, "x" * 16])
def test_names_the_kernel_refuses_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="is not a valid interface name"):
        validation.ifname(name)


@SETTINGS
@given(
    HOSTILE | st.from_regex(r"10\.0\.0\.[0-9]{1,3}(:[0-9*]{0,6})?(/(tcp|udp|TCP))?", fullmatch=True)
)
def test_service_specs(text: str) -> None:
    try:
        keys = parse_service(text)
    except ValueError as exc:
        one_line(exc)
        return
    assert keys and all(0 <= k.port <= 65535 for k in keys)
    assert all(not not_unicast(ipaddress.IPv4Address(k.vip), False) for k in keys)
    addr_port = text.strip().partition("/")[0]
    if ":" in addr_port:
        assert addr_port.partition(":")[2].strip(), "an empty port is never taken"


@SETTINGS
@given(st.lists(HOSTILE, max_size=8).map("\n".join))
def test_any_text_parses_or_names_its_lines(text: str) -> None:
    result = parse_text(text)
    lines = text.count("\n") + text.count("\r") + 1
    for err in result.errors:
        assert 1 <= err.line <= lines and "\n" not in err.message and len(err.message) < 300
    for dest in result.destinations:
        assert validation.backend_ip(dest.ip) == dest.ip and validation.mac(dest.mac) == dest.mac


# -- cases an operator met ---------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (validation.weight, "\uff13", "weight '\uff13' is not a whole number from 0 to 65535"),
        (validation.weight, "\xb3", "weight '\xb3' is not a whole number from 0 to 65535"),
        (validation.weight, "", "weight is empty: give a whole number from 0 to 65535"),
        pytest.param(validation.weight, "9" * 5000, "is out of range 0-65535", id="huge"),
        (validation.port, "\uff18\uff10", "port '\uff18\uff10' is not a whole number"),
        (validation.ifname, "lb0\n", "'lb0\\n' is not a valid interface name"),
        (validation.ifname, "", "'' is not a valid interface name (empty: an unset variable?)"),
        (validation.netns_name, "", "'' is not a valid network namespace name"),
        (validation.netns_name, "lab/x", "'lab/x' is not a valid network namespace name"),
        (validation.netns_name, "..", "'..' is not a valid network namespace name"),
        pytest.param(validation.netns_name, "n" * 256, "not a valid network namespace", id="256"),
        (validation.source_address, "300.1.1.1", "'300.1.1.1' is not an IPv4 address"),
        (validation.source_address, "10.0.0.1;id", "'10.0.0.1;id' is not an IPv4 address"),
        (validation.source_address, "::1", "'::1' is not an IPv4 address"),
        (validation.source_address, "0.0.0.0", "0.0.0.0 is the unspecified address"),
        (validation.source_address, "224.0.0.1", "224.0.0.1 is a multicast address"),
        (validation.source_address, "255.255.255.255", "the broadcast address"),
        (
            validation.vip_address,
            "169.254.0.1",
            "169.254.0.1 is a link-local address, which cannot be a VIP",
        ),
        (validation.mac, "00:00:00:00:00:00", "the all-zero MAC"),
        (validation.ring_size, "0", "ring size 0 is out of range 1-16384"),
    ],
)
def test_refusals_say_what_is_wrong(parse: object, text: str, message: str) -> None:
    assert message in refused(parse, text)


def test_quoted_input_is_cut_short() -> None:
    message = refused(validation.backend_ip, "x" * 4_000_000)
    assert "(4,000,000 characters)" in message and len(message) < 120


@pytest.mark.parametrize(
    ("seconds", "ok"),
    [("-1", False), ("0", False), ("nan", False), ("inf", False), ("1e9", False),
     ("99999", False), ("\uff11", False), ("0.05", True), ("2", True), (".5", True)],
)  # fmt: skip
def test_stats_intervals(seconds: str, ok: bool) -> None:
    if ok:
        assert validation.seconds(seconds, "interval", 0.01, 3600) == float(seconds)
    else:
        refused(lambda t: validation.seconds(t, "interval", 0.01, 3600), seconds)


def test_empty_port_is_refused_and_any_port_is_explicit() -> None:
    assert "the port is empty" in refused(parse_service, "10.0.0.4:")
    for spec in ("10.0.0.4", "10.0.0.4:0", "10.0.0.4:*"):
        assert {k.port for k in parse_service(spec)} == {0}
    assert {(k.port, k.proto) for k in parse_service("10.0.0.4:*/tcp")} == {(0, abi.PROTO_TCP)}


@pytest.mark.parametrize(
    "vip", ["255.255.255.255", "240.0.0.1", "224.0.0.1", "127.0.0.1", "0.0.0.0", "169.254.1.1"]
)
def test_vips_that_no_client_can_reach_are_refused(vip: str) -> None:
    assert "cannot be a VIP" in refused(parse_service, f"{vip}:80")


def test_overlapping_specs_are_one_service_with_a_notice() -> None:
    keys, notices = merge_services(["10.0.0.4:8080/tcp", "10.0.0.4:8080/tcp"])
    assert keys == [abi.ServiceKey("10.0.0.4", 8080, abi.PROTO_TCP)]
    assert notices == ["10.0.0.4:8080/tcp names 10.0.0.4:8080/tcp again: it is loaded once"]
    keys, notices = merge_services(["10.0.0.4:53", "10.0.0.4:53/udp"])
    assert [k.proto for k in keys] == [abi.PROTO_TCP, abi.PROTO_UDP] and len(notices) == 1
    assert merge_services(["10.0.0.4:53/udp", "10.0.0.4:80/udp"])[1] == []


def test_ring_must_serve_every_backend_that_takes_traffic() -> None:
    problem = validation.ring_problem(7, maglev=True, serving=8)
    assert problem and "smaller than the 8 backends that take traffic" in problem
    assert validation.ring_problem(7, maglev=True, serving=7) is None
    assert validation.ring_problem(8, maglev=False, serving=8) is None
    assert "prime" in (validation.ring_problem(8, maglev=True, serving=2) or "")


def test_capacity_counts_every_service() -> None:
    assert validation.capacity_problem(4096, 1) is None
    assert "4,097 destinations, but the balancer holds at most 4,096" in (
        validation.capacity_problem(4097, 1) or ""
    )
    assert "2,100 destinations in 2 services need 4,200 backend slots" in (
        validation.capacity_problem(2100, 2) or ""
    )
    assert "513 services" in (validation.capacity_problem(1, 513) or "")


@pytest.mark.parametrize(
    "header", ["ip,mac,weight", "IP Address, MAC Address", '"ip","mac"', "backend, hwaddr, Weight"]
)
def test_a_heading_row_is_skipped(header: str) -> None:
    res = parse_text(f"{header}\n10.0.0.11, 02:00:00:00:00:0b, 2\n")
    assert not res.errors and [d.ip for d in res.destinations] == ["10.0.0.11"]


def test_a_heading_row_only_on_the_first_line() -> None:
    res = parse_text("10.0.0.11, 02:00:00:00:00:0b\nip, mac\n")
    assert [e.line for e in res.errors] == [2]
    assert not is_header(["ip", "02:00:00:00:00:0b"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("10.0.0.12, 02:00:00:00:00:0c, \uff13", "weight '\uff13' is not a whole number"),
        ("10.0.0.12, 02:00:00:00:00:0c, \xb2", "weight '\xb2' is not a whole number"),
        ("10.0.0.12, 02:00:00:00:00:0c,", "the weight column is empty"),
        ("127.0.0.1, 02:00:00:00:00:0c", "127.0.0.1 is a loopback address"),
        ("240.1.2.3, 02:00:00:00:00:0c", "240.1.2.3 is a reserved (class E) address"),
        ("224.0.0.5, 02:00:00:00:00:0c", "224.0.0.5 is a multicast address"),
        ("255.255.255.255, 02:00:00:00:00:0c", "the broadcast address"),
        ("0.0.0.0, 02:00:00:00:00:0c", "the unspecified address"),
        ("10.0.0.12, 00:00:00:00:00:00", "the all-zero MAC"),
        pytest.param(
            "10.0.0.12, " + "x" * 5000,
            "5,011 characters is too long for a destinations line",
            id="long line",
        ),
    ],
)
def test_bad_backends_are_named_by_line(line: str, message: str) -> None:
    res = parse_text(f"10.0.0.11, 02:00:00:00:00:0b\n{line}\n")
    assert [e.line for e in res.errors] == [2] and message in res.errors[0].message
    assert "invalid literal" not in res.errors[0].message


def test_the_vip_is_not_a_backend() -> None:
    res = parse_text("10.0.0.4, 02:00:00:00:00:04\n", vips={"10.0.0.4"})
    assert "10.0.0.4 is a VIP of this load" in res.errors[0].message
    assert "a backend cannot be the VIP itself" in res.errors[0].message


def test_line_numbers_follow_the_editor_not_unicode_separators() -> None:
    res = parse_text("10.0.0.11, 02:00:00:00:00:0b\x0c\n\n10.0.0.300, 02:00:00:00:00:0c\n")
    assert [e.line for e in res.errors] == [3]
