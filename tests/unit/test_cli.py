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
