"""The console's sizing and numbers, as pure logic: which columns fit, how the
chart shares the lines, rates after a short interval, the chart's axis and
legend (issue 14)."""

from __future__ import annotations

from dataclasses import replace

from l4lb_tui.console_backend import Sample
from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.model import Counters
from l4lb_tui.viewmodels import layout
from l4lb_tui.viewmodels.columns import PADDING, SCROLLBAR, Column, fit_columns
from l4lb_tui.viewmodels.feed import Feed
from l4lb_tui.viewmodels.history import RateHistory
from l4lb_tui.widgets.chart import y_ticks
from l4lb_tui.widgets.tables import BackendTable, LinkTable


def keys(columns: tuple[Column, ...], width: int) -> list[str]:
    return [columns[n].key for n, _ in fit_columns(columns, width)]


def test_columns_drop_least_important_first_and_fit() -> None:
    cols = tuple(BackendTable.COLUMNS)
    assert keys(cols, 200) == [c.key for c in cols]
    assert keys(cols, 100) == ["num", "service", "ip", "weight", "pps", "bps", "share"]
    assert keys(cols, 80) == ["num", "service", "ip", "weight", "pps", "share"]
    for width in range(60, 220):
        fitted = fit_columns(cols, width)
        used = sum(w + PADDING for _, w in fitted)
        assert used <= width - SCROLLBAR or all(not cols[n].drop for n, _ in fitted)
    # A sparkline narrows before it goes, keeping its newest end.
    spark = dict(fit_columns(cols, 140))
    assert 12 <= spark[cols.index(next(c for c in cols if c.key == "spark"))] < 30
    links = tuple(LinkTable.COLUMNS)
    assert {"ifname", "xdp", "prog", "balancer"} <= set(keys(links, 80))


def test_the_chart_takes_only_what_ten_rows_leave() -> None:
    assert layout.chart_lines(24, 6, None) == 0  # 80x24: the table's
    assert layout.chart_lines(24, 6, True) >= layout.ASKED_CHART  # unless asked
    assert layout.chart_lines(50, 7, None) > layout.chart_lines(36, 7, None) > 0
    assert layout.chart_lines(50, 7, False) == 0
    for lines in range(20, 80):
        chart = layout.chart_lines(lines, 7, None)
        assert chart == 0 or lines - 7 - chart >= layout.MIN_ROWS
    assert layout.compact_header(24) and not layout.compact_header(50)


def samples(times: list[float]) -> list[Sample]:
    fake = FakeBackend.demo()
    out = []
    for at in times:
        sample = fake.sample("lb0")
        assert sample.counters is not None
        out.append(replace(sample, counters=replace(sample.counters, taken_at=at)))
    return out


def test_a_poll_soon_after_the_last_is_rated_over_a_real_interval() -> None:
    first, second, soon = samples([100.0, 101.0, 101.02])
    feed = Feed()
    assert not feed.ingest(first).rated  # type: ignore[union-attr]
    normal = feed.ingest(second)
    assert normal is not None and normal.rated and normal.view is not None
    # The fake counts a tick's worth a sample: between `second` and `soon`
    # over 20 ms that read 50 times the rate; over the 1.02 s since `first`,
    # about twice it.
    quick = feed.ingest(soon)
    assert quick is not None and quick.view is not None
    assert quick.view.total.pps < 2.5 * normal.view.total.pps
    assert len(feed.history.total_pps) == 1  # one point a period


def test_a_backend_missing_from_the_last_sample_had_counted_nothing() -> None:
    first, second = samples([0.0, 1.0])
    assert first.counters is not None and second.counters is not None
    empty = Counters(0.0, {}, first.counters.reasons, first.counters.flows)
    feed = Feed()
    feed.ingest(replace(first, counters=empty))
    digest = feed.ingest(second)
    assert digest is not None and digest.view is not None
    assert all(row.rate.pps > 0 for row in digest.view.rows if row.pkts)


def test_chart_axis_starts_at_zero_in_k_and_m() -> None:
    ticks, labels = y_ticks(76149.1)
    assert ticks[0] == 0 and ticks[-1] >= 76149.1
    assert labels == ["0", "20k", "40k", "60k", "80k"]
    assert y_ticks(1.9e6)[1][-1] == "2M"


def test_legend_order_is_stable_while_ranks_change() -> None:
    fake = FakeBackend.demo()
    feed = Feed()
    orders = []
    for at in range(8):
        sample = fake.sample("lb0")
        assert sample.counters is not None
        digest = feed.ingest(replace(sample, counters=replace(sample.counters, taken_at=at)))
        assert digest is not None
        orders.append([label for label, _ in digest.chart.top])
    assert orders[-1] == sorted(orders[-1], key=lambda ip: int(ip.rsplit(".", 1)[1]))
    history = RateHistory()
    assert history.top(5) == []


def test_an_ipv6_address_widens_its_column_or_is_cut_in_the_middle() -> None:
    from l4lb_tui.viewmodels.columns import cut_middle
    from l4lb_tui.widgets.tables import BackendTable

    cols = BackendTable.COLUMNS
    ip = next(n for n, c in enumerate(cols) if c.key == "ip")
    assert dict(fit_columns(cols, 200, {ip: 39}))[ip] == 39  # the sparkline narrows for it
    assert dict(fit_columns(cols, 200, {ip: 8}))[ip] == 15  # IPv4: as before
    assert dict(fit_columns(cols, 80, {ip: 39}))[ip] == 15
    a, b = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:fffe"
    assert cut_middle(a, 15) == "2001…:eeee:ffff" and cut_middle(b, 15) != cut_middle(a, 15)
    assert cut_middle("10.0.0.4", 15) == "10.0.0.4"
    # t18 LOW-6: a service keeps its port and protocol, and its address's end.
    s1, s2 = (f"[2001:db8:aaaa:bbbb:cccc:dddd:{g}:6]:65535/tcp" for g in ("eeee", "ffff"))
    assert cut_middle(s1, 24) == "[200…d:eeee:6]:65535/tcp"
    assert cut_middle(s2, 24) != cut_middle(s1, 24)


def test_a_long_vip_takes_healths_room_and_the_packets_column_at_200() -> None:
    # v17 LOW-B: at 200 columns the Service column cut a 50-character IPv6
    # VIP while Health kept 16 columns of dashes.
    from l4lb_tui.widgets.tables import BackendTable

    cols = BackendTable.COLUMNS
    at = {c.key: n for n, c in enumerate(cols)}
    fitted = {cols[n].key: w for n, w in fit_columns(cols, 200, {at["service"]: 50, at["ip"]: 39})}
    assert (fitted["service"], fitted["ip"]) == (50, 39)
    assert fitted["health"] == 6 and fitted["spark"] == 12 and "pkts" not in fitted
    assert "mac" in fitted  # a backend's MAC is not given up for it
    wide = {cols[n].key: w for n, w in fit_columns(cols, 200)}
    assert wide["health"] == 16 and wide["pkts"] == 15  # IPv4 only: as before


def test_header_parts_break_between_tables_never_inside_one() -> None:
    from rich.text import Text

    from l4lb_tui.viewmodels.flow_table import packed

    parts = [
        Text("flows    hit 1 new 2"),
        Text("table 3 of 4,096 (0.1%, 4k)"),
        Text("v6 9 of 65,536"),
    ]
    lines = [line.plain for line in packed(parts, 60)]
    assert lines == ["flows    hit 1 new 2   table 3 of 4,096 (0.1%, 4k)", "v6 9 of 65,536"]
    assert [line.plain for line in packed(parts, 0)] == [
        "flows    hit 1 new 2   table 3 of 4,096 (0.1%, 4k)   v6 9 of 65,536"
    ]
