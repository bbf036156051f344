"""Health checks' pure logic: probes from specs, response verdicts, tunnel
marks and the tunnel's routing rules (against a model of `ip rule`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from l4lb_tui.config_model import HealthSpec
from l4lb_tui.health.logic import marks as M
from l4lb_tui.health.logic import rules as R
from l4lb_tui.health.logic.probes import (
    MAX_RESPONSE,
    build_probe,
    check_port,
    errno_detail,
    http_request,
    http_verdict,
    udp_verdict,
)
from l4lb_tui.health.model import CheckKey, Target

KEY = CheckKey("10.0.0.4:8080/tcp", "10.0.0.11")
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbe1\n"


def test_probe_through_the_tunnel_goes_to_the_vip_with_the_mark() -> None:
    spec = HealthSpec(check="http", path="/health", body="be")
    probe = build_probe(
        KEY, spec, "10.0.0.4", 8080, Target.TUNNEL, mark=0x4C480001, source="10.0.0.3"
    )
    assert (probe.address, probe.port, probe.mark, probe.source) == (
        "10.0.0.4",
        8080,
        0x4C480001,
        "10.0.0.3",
    )
    assert probe.request.startswith(b"GET /health HTTP/1.1\r\nHost: 10.0.0.4:8080\r\n")
    assert probe.expect == b"be" and (probe.interval, probe.timeout) == (1.0, 0.5)


def test_probe_of_the_own_address_has_no_mark() -> None:
    spec = HealthSpec(check="udp", port=53, send="q", expect="a")
    probe = build_probe(KEY, spec, "10.0.0.4", 9000, Target.ADDRESS, mark=7, source="10.0.0.3")
    assert (probe.address, probe.port, probe.mark, probe.source) == ("10.0.0.11", 53, 0, "10.0.0.3")
    assert (probe.request, probe.expect) == (b"q", b"a")


@pytest.mark.parametrize(
    ("spec", "port", "mark", "message"),
    [
        (HealthSpec(check="tcp"), 0, 1, "port of its own"),
        (HealthSpec(check="icmp"), 80, 1, "unknown check"),
        (HealthSpec(check="tcp", interval=0), 80, 1, "more than 0"),
        (HealthSpec(check="tcp"), 80, 0, "needs the tunnel's mark"),
        (HealthSpec(check="http", path="x y"), 80, 1, "bad HTTP path"),
    ],
)
def test_bad_probes_are_refused(spec: HealthSpec, port: int, mark: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_probe(KEY, spec, "10.0.0.4", port, Target.TUNNEL, mark=mark, source="10.0.0.3")


def test_ports_and_host_header() -> None:
    assert check_port(HealthSpec(check="tcp", port=81), 80) == 81
    assert check_port(HealthSpec(check="tcp"), 80) == 80
    assert b"Host: 10.0.0.4\r\n" in http_request("/", "10.0.0.4", 80)


@pytest.mark.parametrize(
    ("data", "eof", "status", "body", "verdict"),
    [
        (b"", False, 200, b"", None),
        (b"", True, 200, b"", (False, "closed without answering")),
        (b"HTTP/1.1 200", False, 200, b"", None),
        (b"HTTP/1.1 200 OK\r\n", False, 200, b"", (True, "HTTP 200")),
        (b"HTTP/1.0 503 Busy\r\n", False, 200, b"", (False, "HTTP 503, expected 200")),
        (b"SSH-2.0-OpenSSH\r\n", False, 200, b"", (False, "no HTTP status line")),
        (b"HTTP/1.1 2000 OK\r\n", False, 200, b"", (False, "no HTTP status line")),
        (OK, False, 200, b"be1", (True, "HTTP 200")),
        (OK[:-3], False, 200, b"be1", None),
        (OK, True, 200, b"be2", (False, "HTTP 200, body lacks 'be2'")),
        (OK, False, 301, b"", (False, "HTTP 200, expected 301")),
    ],
)
def test_http_verdicts(data: bytes, eof: bool, status: int, body: bytes, verdict: object) -> None:
    assert http_verdict(data, eof, status, body) == verdict


@given(st.binary(max_size=200), st.booleans())
def test_http_verdict_decides_at_eof_and_at_the_limit(junk: bytes, eof: bool) -> None:
    assert http_verdict(junk, True, 200, b"x") is not None
    big = b"HTTP/1.1 200 OK\r\n\r\n" + b"a" * MAX_RESPONSE
    assert http_verdict(big, eof, 200, b"needle") == (False, "HTTP 200, body lacks 'needle'")


def test_udp_verdicts_and_errno_words() -> None:
    assert udp_verdict(b"be1 ping", b"ping") == (True, "replied")
    assert udp_verdict(b"be1 ping", b"") == (True, "replied")
    assert udp_verdict(b"nope", b"ping") == (False, "reply lacks 'ping'")
    assert errno_detail(111) == "refused" and errno_detail(113) == "host unreachable"


# Tunnel marks

# Both families share the tunnel's slots (one mark, one backend).
ips = st.sets(
    st.sampled_from(
        [f"10.1.{i}.{j}" for i in range(3) for j in range(1, 9)]
        + [f"fd00::{i}:{j}" for i in range(2) for j in range(1, 9)]
    )
)


@given(ips, ips, ips)
def test_slots_stay_put_and_are_never_reused_at_once(a: set[str], b: set[str], c: set[str]) -> None:
    slots: dict[str, int] = {}
    for wanted in (a, b, c):
        plan = M.plan_slots(slots, wanted)
        assert set(plan.slots) == wanted
        assert len(set(plan.slots.values())) == len(wanted), "one slot per backend"
        assert all(plan.slots[ip] == slot for ip, slot in slots.items() if ip in wanted)
        assert set(plan.clear) == {slot for ip, slot in slots.items() if ip not in wanted}
        assert not {slot for slot, _ in plan.write} & set(slots.values())
        assert 0 not in plan.slots.values()
        slots = dict(plan.slots)


def test_marks_and_capacity() -> None:
    assert M.mark(0x4C480000, 5) == 0x4C480005
    with pytest.raises(ValueError):
        M.check_base(0x4C480001)
    with pytest.raises(ValueError):
        M.mark(0x4C480000, 0)
    with pytest.raises(ValueError, match="3 backends"):
        M.plan_slots({}, ["10.0.0.1", "10.0.0.2", "10.0.0.3"], capacity=2)
    # IPv4 first, then IPv6, each in address order.
    assert M.plan_slots({}, ["fd00::12", "10.0.0.9", "fd00::2"]).write == (
        (1, "10.0.0.9"), (2, "fd00::2"), (3, "fd00::12")
    )  # fmt: skip


# The tunnel's rules, played on a model of the kernel's rule list


def apply(rules: list[R.Rule], step: list[str]) -> list[R.Rule]:
    """`ip rule add` goes after the rules of its preference; `del` removes the first match."""
    verb, args = step[1], dict(zip(step[2::2], step[3::2], strict=True))
    mark, _, mask = args.get("fwmark", "").partition("/")
    rule = R.Rule(int(args["pref"]), args["lookup"], args.get("protocol", ""), mark, mask)
    if verb == "add":
        at = next((i for i, r in enumerate(rules) if r.priority > rule.priority), len(rules))
        return [*rules[:at], rule, *rules[at:]]
    for i, r in enumerate(rules):
        same = (r.priority, r.table, r.fwmark) == (rule.priority, rule.table, rule.fwmark)
        if same and (not rule.protocol or r.protocol == rule.protocol):
            return rules[:i] + rules[i + 1 :]
    raise AssertionError(f"no rule matches {step}")


def first_for(rules: list[R.Rule], marked: bool) -> R.Rule:
    return next(r for r in rules if not r.fwmark or marked)


BOOT = R.parse_rules(
    [
        {"priority": 0, "src": "all", "table": "local", "protocol": "kernel"},
        {"priority": 100, "src": "10.9.0.0", "srclen": 16, "table": "7"},
        {"priority": 32766, "src": "all", "table": "main", "protocol": "kernel"},
    ]
)


def test_install_puts_probes_first_and_everything_else_meets_local_first() -> None:
    rules = list(BOOT)
    for step in R.install_steps(rules, 0x4C480000, 19528):
        rules = apply(rules, step)
        assert first_for(rules, marked=False).table == "local", "never a moment without local"
    assert first_for(rules, marked=True).table == "19528"
    assert [r for r in rules if not r.ours] == [r for r in BOOT if r.table != "local"]
    for step in R.restore_steps(rules):
        rules = apply(rules, step)
        assert first_for(rules, marked=False).table == "local"
    assert [(r.priority, r.table) for r in rules] == [(r.priority, r.table) for r in BOOT]
    assert not any(r.ours for r in rules)


def test_restore_mends_a_tunnel_left_half_made() -> None:
    # Killed after its rule and the copy of local went in, before the original went.
    rules = list(BOOT)
    for step in R.install_steps(rules, 0x4C480000, 19528)[:2]:
        rules = apply(rules, step)
    for step in R.restore_steps(rules):
        rules = apply(rules, step)
    assert [(r.priority, r.table, r.ours) for r in rules] == [
        (r.priority, r.table, False) for r in BOOT
    ]


def test_local_moved_elsewhere_is_left_alone() -> None:
    moved = R.parse_rules([{"priority": 100, "src": "all", "table": "local"}])
    steps = R.install_steps(moved, 0x4C480000, 19528)
    assert len(steps) == 1 and "fwmark" in steps[0]
    (undo,) = R.restore_steps(apply(moved, steps[0]))
    assert " ".join(undo) == "rule del pref 0 fwmark 0x4c480000/0xffff0000 lookup 19528 protocol 76"


def test_an_ipv6_vip_is_bracketed_in_the_host_header() -> None:
    assert b"\r\nHost: [fd00::4]:8080\r\n" in http_request("/", "fd00::4", 8080)
    assert b"\r\nHost: [2001:db8::4]\r\n" in http_request("/", "2001:db8::4", 80)
