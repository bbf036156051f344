"""CLI behaviour that needs no privilege."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import DATA


def l4lb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args], capture_output=True, text=True, check=False
    )


def test_check_good_file() -> None:
    res = l4lb("check", str(DATA / "32_destinations.csv"))
    assert res.returncode == 0
    assert "32 destinations" in res.stdout


def test_check_bad_file_lists_lines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("10.0.0.1, 02:00:00:00:00:01\nbogus\n10.0.0.1, 02:00:00:00:00:02\n")
    res = l4lb("check", str(bad))
    assert res.returncode == 2
    assert f"{bad}: line 2:" in res.stderr
    assert f"{bad}: line 3: duplicate backend" in res.stderr
    assert "Traceback" not in res.stderr


def test_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    res = l4lb("map", "-i", "nonexistent0", "-f", str(tmp_path / "nope.csv"))
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1
    assert res.stderr.startswith("l4lb: error: ")
    res = l4lb("map", "-i", "x", "-f", str(DATA / "32_destinations.csv"), "--vip", "1.2.3.4:70000")
    assert res.returncode == 2 and "port must be" in res.stderr


def test_check_applies_maps_family_rule_with_vip(tmp_path: Path) -> None:
    v4 = tmp_path / "y17-v4.csv"
    v4.write_text("10.0.0.11, 02:00:00:00:00:11\n")
    mixed = tmp_path / "y17-mix.csv"
    mixed.write_text("fd00::11, 02:00:00:00:00:11\n10.0.0.12, 02:00:00:00:00:12\n")
    for csv in (v4, mixed):
        res = l4lb("check", str(csv), "--vip", "[2001:db8::4]:80/tcp")
        assert res.returncode == 2, res.stdout
        assert "is IPv6 and backend 10.0.0" in res.stderr
        assert "(IPv4 in IPv6 is not built)" in res.stderr
    v6 = tmp_path / "y17-v6.csv"
    v6.write_text("fd00::11, 02:00:00:00:00:11\n")
    res = l4lb("check", str(v6), "--vip", "10.0.0.4:80/tcp")
    assert res.returncode == 2 and "(IPv6 in IPv4 is not built)" in res.stderr
    assert l4lb("check", str(v6), "--vip", "[2001:db8::4]:80/tcp").returncode == 0


def test_check_without_vip_is_the_catch_alls_ipv4_and_names_each_line(tmp_path: Path) -> None:
    """t18 MEDIUM-2, LOW-1: `check` without --vip passed an IPv6 file that
    `map` refuses (the catch-all is IPv4), which named a "VIP 0.0.0.0"; a
    family refusal named neither the line nor the other bad ones."""
    mixed = tmp_path / "t18-mix.csv"
    mixed.write_text(
        "fd00::11, 02:00:00:00:00:11\n10.0.0.12, 02:00:00:00:00:12\nfd00::13, 02:00:00:00:00:13\n"
    )
    res = l4lb("check", str(mixed))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert [ln.split(": ")[1] for ln in lines] == ["line 1", "line 3"], lines
    assert "the catch-all service (no --vip) is IPv4 and backend fd00::11 is IPv6" in lines[0]
    assert "0.0.0.0" not in res.stderr
    res = l4lb("check", str(mixed), "--vip", "[2001:db8::4]:80/tcp")
    assert res.returncode == 2 and res.stderr.count("line 2: VIP 2001:db8::4 is IPv6") == 1
    assert "line 1" not in res.stderr and "line 3" not in res.stderr
    assert l4lb("map", "-i", "lo", "-f", str(mixed)).stderr.count("\n") == 1  # one line
