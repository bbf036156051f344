"""Long IPv6 backends and VIPs on the dashboard: a wide terminal shows
them whole (the sparkline, then Health narrowed and Packets given up for
them), a narrow one cuts them with "…" keeping the distinguishing tail; the
header shows both flow tables' occupancy, whole at 120 and 200 columns and
as shares at 80x24 (v17 LOW-B; frozen data; regenerate with
--snapshot-update and look first)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from tui_support import make_app, prefill

from l4lb_tui import abi
from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.destinations import Destination
from l4lb_tui.model import FlowOccupancy

HERE = Path(__file__).parent
LONG_VIP = abi.ServiceKey("2001:db8:1234:5678:9abc:def0:1234:5678", 65535, abi.PROTO_UDP)
# Differs from LONG_VIP only in a middle group: told apart where whole.
LONG_VIP2 = abi.ServiceKey("2001:db8:1234:5678:9abc:def1:1234:5678", 65535, abi.PROTO_UDP)
LONG = ("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:fffe")


@pytest.fixture(autouse=True)
def _relative_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)


def _fake() -> FakeBackend:
    fake = FakeBackend.demo(backends=2, dns=True)
    dests = [Destination(ip, f"02:00:00:00:00:2{n}") for n, ip in enumerate(LONG)]
    fake.load("lb0", [LONG_VIP], dests)
    fake.load("lb0", [LONG_VIP2], [Destination("2001:db8::77", "02:00:00:00:00:77")])
    fake.writes.clear()
    fake.tables = (
        FlowOccupancy(1 << 24, 313_541, sampled=True),
        FlowOccupancy(1 << 16, 65_000),
    )
    return fake


@pytest.mark.parametrize(
    "size", [(80, 24), (120, 30), (200, 50)], ids=["80x24", "120x30", "200x50"]
)
def test_long_ipv6_addresses(snap_compare: object, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[object]) -> None:
        await prefill(pilot, 3)

    app = make_app(_fake(), "lb0", Path("data"))
    assert snap_compare(app, terminal_size=size, run_before=run_before)  # type: ignore[operator]
