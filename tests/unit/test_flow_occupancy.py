"""The flow table's size and occupancy as the operator is told them: sizes
allowed, memory said, the warning when affinity is being lost, and where
stats, metrics and the console show them (pure logic, no kernel)."""

from __future__ import annotations

import argparse

import pytest

from l4lb_tui import abi, cliargs, flowsize
from l4lb_tui.abi import FlowStat
from l4lb_tui.config_file import ConfigError, parse_config
from l4lb_tui.config_plan import Running, plan_balancer
from l4lb_tui.metrics import BalancerSample, render
from l4lb_tui.model import Counters, FlowOccupancy, State
from l4lb_tui.stats import build_view, render_json, render_text
from l4lb_tui.viewmodels import flow_table

CFG = abi.Config("10.0.0.1", "02:00:00:00:00:01")


@pytest.mark.parametrize(
    ("text", "flows"),
    [("4096", 4096), ("64k", 65536), ("4M", 1 << 22), ("16M", 1 << 24), ("1_048_576", 1 << 20)],
)
def test_sizes_allowed(text: str, flows: int) -> None:
    assert flowsize.parse_flows(text) == flows


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("1000000", "not a power of two: take 524,288 (512k) or 1,048,576 (1M)"),
        ("2048", "outside 4,096"),
        ("128M", "outside 4,096"),
        ("lots", "is not a number"),
        ("-4M", "a count of flows, 4k to 64M"),
        ("4MiB", "it counts flows, not bytes"),
    ],
)
def test_sizes_refused(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=said.replace("(", r"\(").replace(")", r"\)")):
        flowsize.parse_flows(text)


def test_sixteen_million_is_allowed_and_its_memory_said() -> None:
    said = flowsize.describe(flowsize.parse_flows("16M"))
    assert said == (
        "flow table: 16,777,216 flows (16M), 592 MiB of kernel memory "
        "(entries 512 MiB, tags 16 MiB, picks 64 MiB)"
    )


def test_the_config_file_takes_a_size_and_refuses_a_bad_one() -> None:
    text = '[[balancer]]\ninterface = "lb0"\nflows = "{}"\n'
    assert parse_config(text.format("8M")).balancers[0].flows == 1 << 23
    with pytest.raises(ConfigError, match=r"line 3: balancer\[0\]\.flows: .* not a power of two"):
        parse_config(text.format("3M"))


def counters(t: float, untracked: int, hits: int, occ: FlowOccupancy | None) -> Counters:
    flows = {FlowStat.HIT: hits, FlowStat.UNTRACKED: untracked}
    return Counters(t, {}, {}, flows, occ)


def view(untracked: int, entries: int, capacity: int = 1 << 20):  # type: ignore[no-untyped-def]
    occ = FlowOccupancy(capacity, entries)
    state = State("lb0", CFG, None, 7, ())
    return build_view(state, counters(0.0, 0, 0, occ), counters(2.0, untracked, 1000, occ))


def test_no_warning_while_flows_are_tracked_and_the_table_has_room() -> None:
    v = view(0, 1000)
    assert v.warning is None
    assert "warning" not in render_text(v)
    assert "[Flow table] 1,000 of 1,048,576 (0.1%, 1M)  untracked 0 pkts/s" in render_text(v)


def test_untracked_flows_are_warned_of_with_their_rate() -> None:
    v = view(500, 1000)
    assert v.untracked_pps == 250
    assert v.warning is not None
    assert "250/s untracked" in v.warning and "larger --flows" in v.warning
    assert f"warning: {v.warning}" in render_text(v).splitlines()
    doc = render_json(v)
    assert doc["warning"] == v.warning
    assert doc["flow_table"] == {
        "capacity": 1 << 20,
        "entries": 1000,
        "occupancy": 0.001,
        "sampled": False,
        "untracked_pps": 250.0,
    }


def test_a_table_half_full_is_warned_of_before_flows_go_untracked() -> None:
    v = view(0, 600_000)
    assert v.warning is not None and v.warning.startswith("flow table 57% full")


def test_the_console_header_shows_occupancy_and_the_warning() -> None:
    quiet, loud = view(0, 1000), view(500, 1000)
    shown = flow_table.occupancy(quiet)
    assert shown is not None and "1,000 of 1,048,576" in shown.plain
    assert flow_table.warning(quiet) is None
    said = flow_table.warning(loud)
    assert said is not None and "untracked" in said.plain


def test_metrics_carry_entries_and_capacity() -> None:
    state = State("lb0", CFG, None, 7, ())
    text = render([BalancerSample(state, counters(1.0, 3, 9, FlowOccupancy(4096, 12)))])
    assert 'l4lb_flow_table_entries{interface="lb0"} 12' in text
    assert 'l4lb_flow_table_capacity{interface="lb0"} 4096' in text
    assert 'l4lb_flow_table_packets_total{interface="lb0",outcome="untracked"} 3' in text


def test_apply_says_the_tables_memory_and_that_a_resize_needs_a_detach() -> None:
    spec = parse_config('[[balancer]]\ninterface = "lb0"\nflows = "64k"\n').balancers[0]
    fresh = plan_balancer(spec, Running(None, "", ()), {})
    assert fresh.attach == (
        "attach in driver mode, flow table: 65,536 flows (64k), 2 MiB of kernel memory "
        "(entries 2 MiB, tags 64 KiB, picks 256 KiB); IPv6 flow table: 65,536 flows (64k), "
        "4 MiB of kernel memory (entries 4 MiB, tags 64 KiB, picks 256 KiB)"
    )
    same = plan_balancer(spec, Running("driver", "10.0.0.1", (), 1 << 16), {})
    assert same.attach is None
    other = plan_balancer(spec, Running("driver", "10.0.0.1", (), 1 << 19), {})
    assert other.attach == "flow table 512k -> 64k (refused while loaded: detach first)"


# The IPv6 table (t17 HIGH-2): sized, shown and warned of beside IPv4's.


def test_the_ipv6_table_is_sized_like_the_ipv4_one() -> None:
    text = '[[balancer]]\ninterface = "lb0"\nflows6 = "{}"\n'
    assert parse_config(text.format("1M")).balancers[0].flows6 == 1 << 20
    with pytest.raises(ConfigError, match=r"line 3: balancer\[0\]\.flows6: .* not a power of two"):
        parse_config(text.format("3M"))
    assert flowsize.describe6(1 << 24) == (
        "IPv6 flow table: 16,777,216 flows (16M), 1,104 MiB of kernel memory "
        "(entries 1,024 MiB, tags 16 MiB, picks 64 MiB)"
    )
    flags = flowsize.config_flags(abi.CFG_CATCH_ALL, 1 << 20, 1 << 12)
    cfg = abi.Config("10.0.0.1", "02:00:00:00:00:01", flags)
    assert (cfg.flow_log2, flowsize.flow6_log2(cfg.flags), cfg.catch_all) == (20, 12, True)


def test_bytes_for_the_ipv6_table_quote_its_own_memory() -> None:
    """`--flows6 4MiB` quoted IPv4's 148 MiB; 4M IPv6 slots take 276 MiB (t20 LOW-1)."""
    with pytest.raises(ValueError, match=r"not bytes \(e\.g\. 4M: 148 MiB;"):
        flowsize.parse_flows("4MiB")
    with pytest.raises(ValueError, match=r"not bytes \(e\.g\. 4M: 276 MiB;"):
        flowsize.parse_flows6("4MiB")
    parser = argparse.ArgumentParser(exit_on_error=False)
    cliargs.flows_option(parser)
    with pytest.raises(argparse.ArgumentError, match=r"--flows6: .* 4M: 276 MiB;"):
        parser.parse_args(["--flows6", "4MiB"])
    text = '[[balancer]]\ninterface = "lb0"\n{} = "4MiB"\n'
    with pytest.raises(ConfigError, match=r"line 3: balancer\[0\]\.flows: .* 4M: 148 MiB;"):
        parse_config(text.format("flows"))
    with pytest.raises(ConfigError, match=r"line 3: balancer\[0\]\.flows6: .* 4M: 276 MiB;"):
        parse_config(text.format("flows6"))


def test_apply_refuses_a_resize_of_the_ipv6_table_while_loaded() -> None:
    spec = parse_config('[[balancer]]\ninterface = "lb0"\nflows6 = "1M"\n').balancers[0]
    running = Running("driver", "10.0.0.1", (), 1 << 19, None, 1 << 16)
    assert plan_balancer(spec, running, {}).attach == (
        "IPv6 flow table 64k -> 1M (refused while loaded: detach first)"
    )


def view6(untracked6: int, entries6: int, capacity6: int = 1 << 16):  # type: ignore[no-untyped-def]
    occ, occ6 = FlowOccupancy(1 << 20, 10), FlowOccupancy(capacity6, entries6)
    state = State("lb0", CFG, None, 7, ())

    def at(t: float, untracked: int) -> Counters:
        flows6 = {FlowStat.HIT: 1000, FlowStat.UNTRACKED: untracked}
        return Counters(t, {}, {}, {FlowStat.HIT: 5}, occ, flows6, occ6)

    return build_view(state, at(0.0, 0), at(2.0, untracked6))


def test_a_full_ipv6_table_is_named_with_the_option_that_fixes_it() -> None:
    v = view6(500, 65_000)
    assert v.untracked_pps == 0 and v.untracked_pps6 == 250
    assert v.warning is not None
    assert v.warning.startswith("IPv6 flow table 99% full (65,000 of 65,536)")
    assert "larger --flows6" in v.warning and "--flows " not in v.warning + " "
    text = render_text(v)
    assert "[Flow table] 10 of 1,048,576 (0.0%, 1M)  untracked 0 pkts/s" in text
    assert "[Flow table v6] 65,000 of 65,536 (99.2%, 64k)  untracked 250 pkts/s" in text
    assert "[Flows v6] hit 1,000" in text
    doc = render_json(v)
    assert doc["flow_table6"]["untracked_pps"] == 250.0
    assert doc["flows6"]["untracked"] == 500
    shown = flow_table.occupancy(v)
    assert shown is not None and "v6 65,000 of 65,536" in shown.plain


def test_metrics_carry_the_ipv6_table() -> None:
    state = State("lb0", CFG, None, 7, ())
    occ6 = FlowOccupancy(1 << 16, 40)
    sample = Counters(1.0, {}, {}, {}, FlowOccupancy(4096, 1), {FlowStat.UNTRACKED: 7}, occ6)
    text = render([BalancerSample(state, sample)])
    assert 'l4lb_flow_table6_entries{interface="lb0"} 40' in text
    assert 'l4lb_flow_table6_capacity{interface="lb0"} 65536' in text
    assert 'l4lb_flow_table6_packets_total{interface="lb0",outcome="untracked"} 7' in text


def test_a_rate_that_rounds_to_zero_is_not_said_as_zero() -> None:
    # v17 LOW-A: "0/s untracked (0.9% of packets)" over the daemon's 10 s look.
    said = flowsize.affinity_warning(1300, 4096, 4, 444, 10.0, ipv6=True)
    assert said is not None and "; <1/s untracked (0.9% of packets)" in said
    said = flowsize.affinity_warning(1300, 4096, 5, 1000, 10.0)
    assert said is not None and "; <1/s untracked" in said  # 0.5/s
    said = flowsize.affinity_warning(1300, 4096, 15, 1000, 10.0)
    assert said is not None and "; 2/s untracked" in said


def test_untracked_packets_in_a_table_far_from_full_advise_no_detach() -> None:
    # x17 LOW-7: a one-packet flood into a 6% full table is not a reason to resize.
    said = flowsize.affinity_warning(250, 4096, 1200, 316_000, 10.0, ipv6=True)
    assert said is not None and said.startswith("IPv6 flow table 6% full (250 of 4,096); 120/s")
    assert "detach" not in said and "flood of one-packet flows" in said
    said = flowsize.affinity_warning(1300, 4096, 1200, 316_000, 10.0)
    assert said is not None and said.endswith("a larger --flows (8 to 16 slots a flow)")
    said = flowsize.affinity_warning(400, 4096, 12_000, 316_000, 10.0)  # 10%, many untracked
    assert said is not None and said.endswith(
        "1,200/s untracked (3.8% of packets): those flows lose their backend at the next "
        "backend change; detach and attach with a larger --flows (8 to 16 slots a flow)"
    )


def test_the_occupancy_warns_where_flows_start_to_get_no_entry() -> None:
    """t18 HIGH-2: 2,086 of 4,096 slots stored while 3,000 flows ran: the
    unstored third were counted `new` on every packet, untracked read 0,
    and the warning came only from half full.  It now comes from 1/8 full,
    where 2-way buckets leave about 1% of flows without an entry."""
    assert flowsize.affinity_warning(511, 4096, 0, 10_000, 1.0) is None  # 12.5% less one
    said = flowsize.affinity_warning(512, 4096, 0, 10_000, 1.0)
    assert said is not None and said.startswith(
        "flow table 12% full (512 of 4,096): 1-2% of live flows get no entry"
    )
    said = flowsize.affinity_warning(2086, 4096, 0, 30_000, 10.0)
    assert said is not None and "51% full (2,086 of 4,096): 13-31% of live flows" in said
    assert "counted new or untracked" in said and "next backend change" in said
    said = flowsize.affinity_warning(1343, 4096, 11, 20_000, 10.0, ipv6=True)
    assert said is not None and said.startswith(
        "IPv6 flow table 33% full (1,343 of 4,096); 1/s untracked (0.055% of packets): 6-12% of live"
    )
    assert said.endswith("a larger --flows6 (8 to 16 slots a flow)")


@pytest.mark.parametrize(
    ("occupancy", "floor", "likely"),
    [
        (0.0, 0.0, 0.0),
        (0.125, 0.0094, 0.018),
        (0.328, 0.058, 0.118),  # t18: 1,343 of 4,096 stored, 10% of 1,500 flows not
        (0.508, 0.131, 0.305),  # t18: 2,086 of 4,096 stored, 914 of 3,000 flows not
        (0.9, 0.4498, 0.4498),  # past what one-stored-of-three can reach: the floor
    ],
)
def test_unstored_share_of_two_way_buckets(occupancy: float, floor: float, likely: float) -> None:
    """Lambda flows a bucket store min(K, 2) of them (the floor), or one of
    three or more that take turns marking the free way (likely)."""
    assert flowsize.unstored_share(occupancy) == pytest.approx((floor, likely), abs=1e-3)


def test_each_table_has_its_own_warning() -> None:
    from l4lb_tui.stats import table_warnings

    occ, occ6 = FlowOccupancy(4096, 10), FlowOccupancy(4096, 3000)
    before = Counters(0.0, {}, {}, {}, occ, {}, occ6)
    now = Counters(10.0, {}, {}, {FlowStat.HIT: 5}, occ, {FlowStat.HIT: 9}, occ6)
    v4, v6 = table_warnings(before, now, 10.0)
    assert v4 is None
    assert v6 is not None and v6.startswith("IPv6 flow table 73% full (3,000 of 4,096)")


def test_the_compact_header_shows_both_tables_shares() -> None:
    # v17 LOW-B: at 80x24 the one counter line showed neither table.
    v = view6(0, 65_000)
    assert [p.plain for p in flow_table.tables(v, compact=True)] == ["table 0.0%", "v6 99.2%"]
    sampled = build_view(
        State("lb0", CFG, None, 7, ()),
        None,
        counters(1.0, 0, 5, FlowOccupancy(1 << 24, 313_541, sampled=True)),
    )
    assert [p.plain for p in flow_table.tables(sampled, compact=True)] == ["table ~1.9%"]


def test_the_console_says_it_in_a_few_words_and_stats_a_line_a_table() -> None:
    """t18 MEDIUM-3: both tables' whole warnings took 7 of 24 lines."""

    brief = flowsize.affinity_warning(2116, 4096, 0, 30_000, 10.0, brief=True)
    assert brief == "flow table 52% full: 14-32% of flows have no entry, larger --flows"
    brief6 = flowsize.affinity_warning(626, 4096, 0, 30_000, 10.0, ipv6=True, brief=True)
    assert brief6 == "IPv6 flow table 15% full: 1-3% of flows have no entry, larger --flows6"
    flood = flowsize.affinity_warning(250, 4096, 1200, 316_000, 10.0, brief=True)
    assert flood == "flow table 6% full: 120/s untracked (one-packet flows, no resize)"
    assert flowsize.affinity_warning(250, 4096, 0, 316_000, 10.0, brief=True) is None
    state = State("lb0", CFG, None, 7, ())
    occ, occ6 = FlowOccupancy(4096, 2116), FlowOccupancy(4096, 626)
    cur = Counters(10.0, {}, {}, {}, occ, {}, occ6)
    view = build_view(state, Counters(0.0, {}, {}, {}, occ, {}, occ6), cur)
    shown = flow_table.warning(view)
    assert shown is not None and shown.plain == f"⚠ affinity at risk: {brief}; {brief6}"
    lines = [ln for ln in render_text(view).splitlines() if ln.startswith("warning: ")]
    assert len(lines) == 2 and lines[1].startswith("warning: IPv6 flow table 15% full")


def test_a_table_too_full_to_count_says_so_and_asks_for_four_times() -> None:
    """t19 HIGH-F: 4,000 and 8,000 flows in a 4k table both read 55-57%
    full (43% and 71% of them without an entry), the warning gave a floor
    of 16% and a resize of the next size up."""
    said = flowsize.affinity_warning(2300, 4096, 0, 30_000, 10.0)
    assert said is not None and "56% full (2,300 of 4,096): 16% or far more of live" in said
    assert said.endswith(
        "a table this full cannot tell how many flows it does not hold: detach and attach "
        "with a larger --flows, 4 times or more (8 to 16 slots a flow)"
    )
    brief = flowsize.affinity_warning(2300, 4096, 0, 30_000, 10.0, ipv6=True, brief=True)
    assert brief == "IPv6 flow table 56% full: 16% or far more of flows have no entry, --flows6 4x+"
