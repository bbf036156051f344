"""The load preview checks a file for the services typed, as `l4lb check
--vip` does: every error with the file's line, never "no errors" beside one;
an IPv6 service's load opens at the lab's IPv6 CSV (t20 MEDIUM-1)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.widgets import Button, Input, Static
from tui_support import dashboard, make_app, manual, settle

from l4lb_tui import abi
from l4lb_tui.app import ConsoleApp
from l4lb_tui.console_demo import FakeBackend
from l4lb_tui.console_files import family_file, preview_csv
from l4lb_tui.destinations import Destination
from l4lb_tui.screens.load import LoadScreen, PreviewTable
from l4lb_tui.services import parse_service
from l4lb_tui.viewmodels.editor_form import OwnAddresses
from l4lb_tui.widgets.tables import BackendTable

V6 = abi.ServiceKey("fd00::4", 8080, abi.PROTO_TCP)
MIXED = (
    "# t20 mixed\n"
    "fd00::11, 5a:62:0c:c4:31:0b, 2\n"
    "10.0.0.12, 9a:6e:1e:bd:9d:f2\n"
    "fd00::13, 8a:08:5c:45:5c:ab, 1, drained\n"
    "fd00::4, 02:00:00:00:00:04\n"
)


def plain(cell: object) -> str:
    return str(getattr(cell, "plain", cell)).strip()


def test_a_mixed_file_lists_every_error_with_its_line(tmp_path: Path) -> None:
    csv = tmp_path / "mixed.csv"
    csv.write_text(MIXED)
    read = preview_csv(csv)
    assert read.ok and read.result is not None and read.result.lines == (2, 3, 4, 5)
    checked = read.against([V6.vip], 1)
    assert checked.result is not None
    assert [(e.line, e.message.split(":")[0]) for e in checked.result.errors] == [
        (3, "VIP fd00"),
        (5, "fd00"),
    ]
    assert not checked.ok and "no errors" not in checked.summary
    assert checked.summary == "2 valid destinations, 2 errors: nothing will be loaded"
    # The same file for an IPv4 service: the IPv6 lines are the wrong ones.
    v4 = read.against(["10.0.0.4"], 1)
    assert v4.result is not None and [e.line for e in v4.result.errors] == [2, 4, 5]


def test_too_many_for_the_services_is_no_no_errors(tmp_path: Path) -> None:
    csv = tmp_path / "many.csv"
    csv.write_text("".join(f"10.1.{n // 256}.{n % 256}, 02:00:00:00:00:01\n" for n in range(2100)))
    two = preview_csv(csv).against(["10.0.0.4", "10.0.0.5"], 2)
    assert not two.ok and "no errors" not in two.summary and "4,096" in two.summary


async def test_the_preview_names_the_lines_check_names(fake: FakeBackend, tmp_path: Path) -> None:
    csv = tmp_path / "mixed.csv"
    csv.write_text(MIXED)
    app = make_app(fake, start_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        screen = app.screen
        assert isinstance(screen, LoadScreen)
        screen.query_one("#services", Input).value = "[fd00::4]:8080/tcp"
        screen.query_one("#path", Input).value = str(csv)
        await pilot.press("enter")
        await settle(pilot)
        summary = plain(screen.query_one("#summary", Static).render())
        assert "2 errors" in summary and "no errors" not in summary, summary
        table = screen.query_one(PreviewTable)
        rows = [table.get_row_at(n) for n in range(table.row_count)]
        assert [plain(r[0]) for r in rows] == ["3", "5"]
        assert "10.0.0.12 is IPv4" in plain(rows[0][1])
        assert screen.query_one("#apply", Button).disabled
        # An IPv4 service instead: the file's IPv6 lines are named.
        screen.query_one("#services", Input).value = "10.0.0.4:8080/tcp"
        await pilot.pause()
        assert [plain(table.get_row_at(n)[0]) for n in range(table.row_count)] == ["2", "4", "5"]
        assert fake.writes == []


def test_the_balancers_own_addresses_are_errors_at_their_lines(tmp_path: Path) -> None:
    """t21 LOW-A: the outer source in a file, which `map` refuses, is an
    error of the preview too, at its line (the form warned, the preview not)."""
    csv = tmp_path / "own.csv"
    csv.write_text("fd00::11, 02:00:00:00:00:11\n# the source\nfd00::1, 02:00:00:00:00:01\n")
    own = OwnAddresses("lb0", ("fd00::2/64",), [("fd00::1", "--source6")])
    checked = preview_csv(csv).against([V6.vip], 1, own.problem)
    assert checked.result is not None and not checked.ok
    assert [(e.line, e.message) for e in checked.result.errors] == [
        (3, "fd00::1 is the balancer's outer source address (--source6 of attach): "
            "it cannot be a backend"),
    ]  # fmt: skip
    assert checked.result.lines == (1,) and "no errors" not in checked.summary
    link = preview_csv(csv).against([V6.vip], 1, OwnAddresses("lb0", ("fd00::11/64",)).problem)
    assert link.result is not None and [e.line for e in link.result.errors] == [1]


def test_the_family_file_is_the_labs_sibling(tmp_path: Path) -> None:
    v4, v6 = tmp_path / "destinations.csv", tmp_path / "destinations6.csv"
    v4.write_text("")
    assert family_file(v4, True) == v4  # no IPv6 file: as before
    v6.write_text("")
    assert family_file(v4, True) == v6 and family_file(v6, False) == v4
    assert family_file(v4, False) == v4 and family_file(v6, True) == v6
    assert family_file(tmp_path, True) == tmp_path


async def test_an_ipv6_service_opens_at_the_ipv6_csv(fake: FakeBackend, tmp_path: Path) -> None:
    v4, v6 = tmp_path / "destinations.csv", tmp_path / "destinations6.csv"
    v4.write_text("10.0.0.11, 02:00:00:00:00:0b\n")
    v6.write_text("fd00::11, 02:00:00:00:00:0b\n")
    fake.load(
        "lb0", parse_service("[fd00::4]:8080/tcp"), [Destination("fd00::12", "02:00:00:00:00:12")]
    )
    fake.writes.clear()
    app = ConsoleApp(fake, "lb0", replace(manual(tmp_path), start_file=v4))
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        screen = dashboard(pilot)
        table = screen.query_one(BackendTable)
        for row in range(table.row_count):
            table.move_cursor(row=row)
            if screen._target_service() == V6:
                break
        assert screen._target_service() == V6
        await pilot.press("l")
        await settle(pilot)
        assert app.screen.query_one("#path", Input).value == str(v6)
        summary = plain(app.screen.query_one("#summary", Static).render())
        assert summary.startswith("destinations6.csv: 1 ") and "no errors" in summary, summary


def test_a_preview_is_checked_once_for_the_same_services(tmp_path: Path) -> None:
    """No valid service typed yet (0, stored as 1): the check is not made
    again on every key (it re-parsed the whole file)."""
    csv = tmp_path / "mixed.csv"
    csv.write_text(MIXED)
    checked = preview_csv(csv).against([], 0)
    assert checked.against([], 0) is checked
    assert checked.against([V6.vip], 1) is not checked
