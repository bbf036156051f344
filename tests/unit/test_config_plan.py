"""What apply would change, and how diff says it (no kernel)."""

from __future__ import annotations

from l4lb_tui import flowsize
from l4lb_tui.abi import ServiceKey
from l4lb_tui.config_file import parse_config
from l4lb_tui.config_plan import (
    Running,
    RunningService,
    plan_balancer,
    render_diff,
)
from l4lb_tui.destinations import Destination
from l4lb_tui.ring_fill import DEFAULT_RING_SIZE, FillMode

CONFIG = """\
[[balancer]]
interface = "lb0"
[[balancer.service]]
vip = "10.0.0.4:80/tcp"
backends = [
  { ip = "10.0.0.11", mac = "02:00:00:00:00:0b" },
  { ip = "10.0.0.12", mac = "neighbour", weight = 3 },
]
"""
HTTP = ServiceKey("10.0.0.4", 80, 6)
OTHER = ServiceKey("10.0.0.9", 53, 17)
MACS = {"10.0.0.12": "02:00:00:00:00:0c"}


def running(*services: RunningService, mode: str | None = "driver") -> Running:
    return Running(mode, "10.0.0.1", services)


def svc(key: ServiceKey, *dests: Destination) -> RunningService:
    return RunningService(key, dests, FillMode.MAGLEV, DEFAULT_RING_SIZE)


def test_a_fresh_interface_is_attached_and_loaded() -> None:
    spec = parse_config(CONFIG).balancers[0]
    change = plan_balancer(spec, running(mode=None), MACS)
    # The flow table's memory is said before apply allocates it.
    assert change.attach is not None
    assert change.attach == (
        f"attach in driver mode, {flowsize.describe(flowsize.DEFAULT_FLOWS)}; "
        f"{flowsize.describe6(flowsize.DEFAULT_FLOWS6)}"
    )
    (s,) = change.services
    assert s.kind == "add" and [d.mac for d in s.dests] == [
        "02:00:00:00:00:0b",
        "02:00:00:00:00:0c",
    ]
    assert render_diff([change]) == [
        "lb0:",
        f"  {change.attach}",
        f"  + service {HTTP}: 2 backends (maglev, {DEFAULT_RING_SIZE} slots)",
    ]


def test_the_running_state_as_configured_changes_nothing() -> None:
    spec = parse_config(CONFIG).balancers[0]
    now = svc(
        HTTP,
        Destination("10.0.0.11", "02:00:00:00:00:0b"),
        Destination("10.0.0.12", "02:00:00:00:00:0c", 3),
    )
    change = plan_balancer(spec, running(now), MACS)
    assert not change.changes and render_diff([change]) == ["lb0: as configured"]


def test_changes_removals_and_what_is_kept() -> None:
    spec = parse_config(CONFIG).balancers[0]
    now = svc(
        HTTP,
        Destination("10.0.0.11", "02:00:00:00:00:0b", 1, drained=True, down=True),
        Destination("10.0.0.13", "02:00:00:00:00:0d"),
    )
    change = plan_balancer(spec, running(now, svc(OTHER)), MACS)
    http, gone = change.services
    assert (http.kind, gone.kind) == ("change", "remove")
    assert render_diff([change])[1:] == [
        f"  ~ service {HTTP}:",
        "      + 10.0.0.12 02:00:00:00:00:0c weight 3",
        "      - 10.0.0.13",
        "      ~ 10.0.0.11 undrained (by apply; a daemon reload keeps an operator's drain)",
        f"  - service {OTHER} (0 backends)",
    ]
    # The health checker's drain stays; an operator's stays when asked.
    assert http.dests[0].down and not http.dests[0].drained
    kept = plan_balancer(spec, running(now), MACS, keep_drains=True).services[0]
    assert kept.dests[0].drained and kept.dests[0].down


def test_an_unresolved_neighbour_is_left_out_not_the_whole_file() -> None:
    spec = parse_config(CONFIG).balancers[0]
    (s,) = plan_balancer(spec, running(), {}).services
    assert [d.ip for d in s.dests] == ["10.0.0.11"]
    assert s.notes and "10.0.0.12: LEFT OUT" in s.notes[0]
    assert any("LEFT OUT" in line for line in render_diff([plan_balancer(spec, running(), {})]))


def test_a_left_out_backend_is_not_as_configured() -> None:
    spec = parse_config(CONFIG).balancers[0]
    now = svc(HTTP, Destination("10.0.0.11", "02:00:00:00:00:0b", 1))
    head, *notes = render_diff([plan_balancer(spec, running(now), {})])
    assert head == "lb0: as configured but for 1 backend left out"
    assert "10.0.0.12: LEFT OUT" in notes[0]


def test_an_unresolved_neighbour_keeps_the_mac_it_runs_with() -> None:
    spec = parse_config(CONFIG).balancers[0]
    now = svc(
        HTTP,
        Destination("10.0.0.11", "02:00:00:00:00:0b", 1),
        Destination("10.0.0.12", "02:00:00:00:00:77", 3),
    )
    (s,) = plan_balancer(spec, running(now), {}).services
    assert s.kind == "same" and s.dests[1].mac == "02:00:00:00:00:77"
    assert "kept its MAC 02:00:00:00:00:77" in s.notes[0]


def test_an_operators_drain_by_weight_zero_is_kept_when_asked() -> None:
    spec = parse_config(CONFIG).balancers[0]
    now = svc(
        HTTP,
        Destination("10.0.0.11", "02:00:00:00:00:0b", 0),
        Destination("10.0.0.12", "02:00:00:00:00:0c", 3),
    )
    kept = plan_balancer(spec, running(now), MACS, keep_drains=True).services[0]
    assert kept.kind == "same" and kept.dests[0].weight == 0
    # apply by hand makes the file true, as for a drained flag
    undone = plan_balancer(spec, running(now), MACS).services[0]
    assert undone.dests[0].weight == 1


def test_a_source_set_where_none_was_reads_without_a_gap() -> None:
    """It read "outer source  -> 10.0.0.2" (two spaces: the empty old one)."""
    spec = parse_config(CONFIG.replace('"lb0"', '"lb0"\nsource = "10.0.0.2"', 1)).balancers[0]
    change = plan_balancer(spec, Running(None, "", ()), MACS)
    # (an attach also states the flow table's memory, after the source)
    assert change.attach.startswith("attach in driver mode, outer source 10.0.0.2, flow table:")
    change = plan_balancer(spec, running(), MACS)
    assert change.attach == "outer source 10.0.0.1 -> 10.0.0.2"


def _live_print(dests: tuple[Destination, ...]) -> str:
    """The fingerprint of the ring these backends make, as a load writes it."""
    from l4lb_tui.ring_fill import fill
    from l4lb_tui.ring_print import fingerprint, ring_ips

    ips = [d.ip for d in dests]
    ring = fill(FillMode.MAGLEV, range(len(ips)), ips, [d.weight for d in dests], 4099)
    return fingerprint(ring_ips(ring, dict(enumerate(ips))))


def test_backends_in_other_slots_are_no_difference_but_another_ring_is() -> None:
    spec = parse_config(CONFIG.replace('"10.0.0.4:80/tcp"', '"10.0.0.4:80/tcp"\nring_size = 4099'))
    bal = spec.balancers[0]
    # A reload keeps each backend in its slot: here .12 sits before .11.
    dests = (
        Destination("10.0.0.12", "02:00:00:00:00:0c", 3),
        Destination("10.0.0.11", "02:00:00:00:00:0b"),
    )
    good = RunningService(HTTP, dests, FillMode.MAGLEV, 4099, _live_print(dests))
    change = plan_balancer(bal, running(good), MACS)
    assert not change.changes and render_diff([change]) == ["lb0: as configured"]

    odd = RunningService(HTTP, dests, FillMode.MAGLEV, 4099, "0123456789abcdef")
    (s,) = plan_balancer(bal, running(odd), MACS).services
    assert s.kind == "change"
    assert "~ ring: live 0123456789abcdef is not what its backends make" in s.lines[1]


def test_a_flow_table_resize_is_a_refusal_diff_and_apply_share() -> None:
    spec = parse_config('[[balancer]]\ninterface = "lb0"\nflows = "8k"\n').balancers[0]
    change = plan_balancer(spec, Running("driver", "10.0.0.1", (), 1 << 12), {})
    (refused,) = change.refusals
    assert refused.startswith("lb0: flow table 4k -> 8k (flows): a loaded balancer keeps its table")
    assert "'l4lb detach -i lb0' first" in refused
    assert f"  ! apply would refuse this: {refused.removeprefix('lb0: ')}" in render_diff([change])
    same = plan_balancer(spec, Running("driver", "10.0.0.1", (), 1 << 13), {})
    assert same.refusals == []
    fresh = plan_balancer(spec, Running(None, "", ()), {})
    assert fresh.refusals == []
    spec6 = parse_config('[[balancer]]\ninterface = "lb0"\nflows6 = "128k"\n').balancers[0]
    six = plan_balancer(spec6, Running("driver", "10.0.0.1", (), 1 << 19, flows6=1 << 16), {})
    (refused6,) = six.refusals
    assert refused6.startswith("lb0: IPv6 flow table 64k -> 128k (flows6): a loaded balancer")
