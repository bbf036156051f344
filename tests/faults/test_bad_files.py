"""Bad destination files: one clear line naming file and line, exit 2, and
the maps exactly as they were (dumped before and after)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui import bpfsys
from l4lb_tui.balancer import Balancer
from l4lb_tui.bpftool import Bpftool
from tests.conftest import DATA, veth_netns

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).parents[2]
GOOD = "10.0.0.11, 02:00:00:00:00:0b\n"

CASES: dict[str, tuple[bytes | None, str]] = {
    "malformed ip": (
        GOOD.encode() + b"10.0.0.300, 02:00:00:00:00:0c\n",
        "line 2: '10.0.0.300' is not an IPv4",
    ),
    "malformed mac": (b"10.0.0.12, 02:00:00:00:0c\n", "line 1: '02:00:00:00:0c' is not a MAC"),
    "multicast mac": (
        b"10.0.0.12, 01:00:5e:00:00:0c\n",
        "line 1: 01:00:5e:00:00:0c is a multicast MAC",
    ),
    "broadcast mac": (
        b"10.0.0.12, ff:ff:ff:ff:ff:ff\n",
        "line 1: ff:ff:ff:ff:ff:ff is the broadcast MAC",
    ),
    "missing column": (GOOD.encode() * 1 + b"10.0.0.12\n", "line 2: expected 'IP, MAC'"),
    "extra columns": (
        b"10.0.0.12, 02:00:00:00:00:0c, 1, 2\n",
        "line 1: expected at most 3 columns",
    ),
    "weight out of range": (
        b"10.0.0.12, 02:00:00:00:00:0c, 70000\n",
        "line 1: weight 70000 is out of range",
    ),
    "duplicate": (GOOD.encode() * 2, "line 2: duplicate backend 10.0.0.11 (first on line 1)"),
    "empty": (b"", "no destinations in file"),
    "binary": (b"\x7fELF\x02\x01\x01\x00" * 64, "binary data, not a text file"),
    "not utf-8": (b"10.0.0.12, \xff\xfe\n", "not UTF-8 text"),
    "missing": (None, "no such file"),
    "too many": (
        "".join(
            f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}, 02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}\n"
            # From 10.1.0.1: the load's VIP (10.0.0.4) is no backend.
            for i in range(65_537, 65_537 + 4097)
        ).encode(),
        "4,097 destinations, but the balancer holds at most 4,096",
    ),
}


def l4lb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def loaded() -> Iterator[tuple[str, str]]:
    with veth_netns("l4f") as (ns, dev, _):
        assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
        res = l4lb(
            "--netns",
            ns,
            "map",
            "-i",
            dev,
            "-f",
            str(DATA / "32_destinations.csv"),
            "--vip",
            "10.0.0.4:80/tcp",
        )
        assert res.returncode == 0, res.stderr
        yield ns, dev
        l4lb("--netns", ns, "detach", "-i", dev)


def dump(ns: str, dev: str) -> dict[str, object]:
    tool = Bpftool()
    maps = Balancer(dev, netns=ns).maps_dir
    # The ring and flow maps are large: compare them through the live
    # service entries (which name the live ring) and the rest in full.
    small = {name: tool.map_dump(maps / name) for name in ("config", "svc_live", "backends")}
    return {**small, "svc_index": bpfsys.read_array(maps / "svc_index").raw}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_changes_nothing(loaded: tuple[str, str], tmp_path: Path, case: str) -> None:
    ns, dev = loaded
    content, message = CASES[case]
    path = tmp_path / "dests.csv"
    if content is not None:
        path.write_bytes(content)
    before = dump(ns, dev)
    res = l4lb("--netns", ns, "map", "-i", dev, "-f", str(path), "--vip", "10.0.0.4:80/tcp")
    assert res.returncode == 2
    assert res.stderr.startswith(f"l4lb: error: {path}"), res.stderr
    assert message in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert dump(ns, dev) == before


def test_huge_file_and_directory(loaded: tuple[str, str], tmp_path: Path) -> None:
    ns, dev = loaded
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.truncate(100 * 1024 * 1024)
    before = dump(ns, dev)
    for path, message in ((big, "too large"), (tmp_path, "is a directory")):
        res = l4lb("--netns", ns, "map", "-i", dev, "-f", str(path))
        assert res.returncode == 2 and message in res.stderr, res.stderr
    assert dump(ns, dev) == before


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.csv"
    path.write_text(GOOD)
    path.chmod(0)
    tmp_path.chmod(0o755)
    res = subprocess.run(  # noqa: S603
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-m",
            "l4lb_tui.cli",
            "check",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert res.returncode == 2 and "permission denied" in res.stderr, res.stderr


def test_bom_crlf_comments_accepted(loaded: tuple[str, str], tmp_path: Path) -> None:
    ns, dev = loaded
    path = tmp_path / "ok.csv"
    path.write_bytes(
        b"\xef\xbb\xbf# lab backends\r\n\r\n10.0.0.11, 02:00:00:00:00:0b\r\n10.0.0.12, 02:00:00:00:00:0c # two\r\n"
    )
    res = l4lb("--netns", ns, "map", "-i", dev, "-f", str(path), "--vip", "10.0.0.4:81/tcp")
    assert res.returncode == 0, res.stderr
    assert "Loading file with 2 destinations" in res.stdout


def test_file_changing_while_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from l4lb_tui import destinations

    path = tmp_path / "moving.csv"
    path.write_text(GOOD)
    real = os.fstat
    calls = {"n": 0}

    def growing(fd: int) -> os.stat_result:
        calls["n"] += 1
        st = real(fd)
        if calls["n"] == 2:
            return os.stat_result((*st[:6], st.st_size + 10, *st[7:]))
        return st

    monkeypatch.setattr(destinations.os, "fstat", growing)
    with pytest.raises(destinations.DestinationError, match="changed while it was being read"):
        destinations.read_destinations(path)


def test_no_shell_anywhere() -> None:
    for src in (ROOT / "l4lb_tui").rglob("*.py"):
        text = src.read_text()
        for banned in ("shell=True", "os.system(", "os.popen(", "shell = True"):
            assert banned not in text, f"{src}: {banned}"
