"""Refused input on a running balancer: one line `l4lb: error: ...`, exit
status 2, and the maps, the config and the run directory exactly as they
were (dumped before and after)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui import bpfsys
from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.lock import lock_path
from l4lb_tui.paths import LOCK_DIR, RUN_DIR
from tests.conftest import DATA, veth_netns

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).parents[2]
SVC = "10.0.0.4:80/tcp"
KEY = ServiceKey("10.0.0.4", 80, 6)


def l4lb(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def loaded() -> Iterator[tuple[str, str]]:
    with veth_netns("val") as (ns, dev, _):
        assert l4lb("--netns", ns, "attach", "-i", dev, "-s", "10.0.0.9").returncode == 0
        res = l4lb("--netns", ns, "map", "-i", dev, "-f", str(DATA / "32_destinations.csv"),
                   "--vip", SVC)  # fmt: skip
        assert res.returncode == 0, res.stderr
        yield ns, dev
        l4lb("--netns", ns, "detach", "-i", dev)


def dump(ns: str, dev: str) -> dict[str, object]:
    maps = Balancer(dev, netns=ns).maps_dir
    small = {name: bpfsys.read_array(maps / name) for name in ("config", "svc_live", "backends")}
    return {
        **small,
        "svc_index": bpfsys.read_array(maps / "svc_index").raw,
        "run dir": sorted(os.listdir(RUN_DIR)),
    }


def lines(count: int) -> str:
    return "".join(
        f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}, "
        f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}\n"
        for i in range(65_537, 65_537 + count)
    )


FILES = {
    "eight": lines(8),
    "4097": lines(4097),
    "2100": lines(2100),
    "vip": "10.0.0.11, 02:00:00:00:00:0b\n10.0.0.4, 02:00:00:00:00:04\n",
    "loopback": "127.0.0.1, 02:00:00:00:00:0b\n",
    "class e": "240.0.0.1, 02:00:00:00:00:0b\n",
    "full-width": "10.0.0.11, 02:00:00:00:00:0b, \uff13\n",
}
D32 = str(DATA / "32_destinations.csv")
# (command after `--netns NS`, with {dev} and {file:NAME}; what the line says)
CASES: dict[str, tuple[tuple[str, ...], str]] = {
    "saddr bad": (("attach", "-i", "{dev}", "-s", "300.1.1.1"), "is not an IPv4 address"),
    "saddr text": (("attach", "-i", "{dev}", "-s", "10.0.0.1;id"), "is not an IPv4 address"),
    "saddr ipv6": (("attach", "-i", "{dev}", "-s", "::1"), "is not an IPv4 address"),
    "saddr zero": (("attach", "-i", "{dev}", "-s", "0.0.0.0"), "the unspecified address"),
    "saddr multicast": (("attach", "-i", "{dev}", "-s", "224.0.0.1"), "a multicast address"),
    "saddr broadcast": (("attach", "-i", "{dev}", "-s", "255.255.255.255"), "the broadcast"),
    "map saddr": (("map", "-i", "{dev}", "-f", D32, "-s", "0.0.0.0"), "the unspecified"),
    "empty port": (("map", "-i", "{dev}", "-f", D32, "--vip", "10.0.0.4:"), "the port is empty"),
    "broadcast vip": (
        ("map", "-i", "{dev}", "-f", D32, "--vip", "255.255.255.255:80"),
        "the broadcast address, which cannot be a VIP",
    ),
    "full-width port": (
        ("map", "-i", "{dev}", "-f", D32, "--vip", "10.0.0.4:\uff18\uff10"),
        "port must be 0-65535",
    ),
    "ring too small": (
        ("map", "-i", "{dev}", "-f", "{file:eight}", "--vip", SVC, "--ring-size", "7"),
        "smaller than the 8 backends that take traffic",
    ),
    "ring zero": (
        ("map", "-i", "{dev}", "-f", D32, "--vip", SVC, "--ring-size", "0"),
        "ring size 0 is out of range",
    ),
    "4097 lines": (("map", "-i", "{dev}", "-f", "{file:4097}", "--vip", SVC), "at most 4,096"),
    "2100 twice": (
        ("map", "-i", "{dev}", "-f", "{file:2100}", "--vip", "10.0.0.4:80"),
        "2,100 destinations in 2 services need 4,200 backend slots",
    ),
    "vip as backend": (
        ("map", "-i", "{dev}", "-f", "{file:vip}", "--vip", SVC),
        "line 2: 10.0.0.4 is a VIP of this load",
    ),
    "loopback backend": (("map", "-i", "{dev}", "-f", "{file:loopback}"), "a loopback address"),
    "class e backend": (("map", "-i", "{dev}", "-f", "{file:class e}"), "(class E)"),
    "full-width weight": (("map", "-i", "{dev}", "-f", "{file:full-width}"), "not a whole number"),
    "backend is vip": (
        (
            "backend",
            "add",
            "-i",
            "{dev}",
            "--vip",
            SVC,
            "--ip",
            "10.0.0.4",
            "--mac",
            "02:00:00:00:00:04",
        ),
        "10.0.0.4 is the VIP of 10.0.0.4:80/tcp",
    ),
    "weight full-width": (
        (
            "backend",
            "weight",
            "-i",
            "{dev}",
            "--vip",
            SVC,
            "--ip",
            "10.0.0.11",
            "--weight",
            "\uff13",
        ),
        "weight '\uff13' is not a whole number",
    ),
    "backend twice in one spec": (
        (
            "backend",
            "add",
            "-i",
            "{dev}",
            "--vip",
            "10.0.0.4:80",
            "--ip",
            "10.0.0.99",
            "--mac",
            "02:00:00:00:00:99",
        ),
        "no service 10.0.0.4:80/udp",
    ),
    "stats interval": (("stats", "-i", "{dev}", "--interval", "-1"), "argument --interval"),
    "stats nan": (("stats", "-i", "{dev}", "--interval", "nan"), "argument --interval"),
    "newline ifname": (("attach", "-i", "{dev}\n"), "is not a valid interface name"),
}


def argv(template: tuple[str, ...], dev: str, tmp_path: Path) -> list[str]:
    out = []
    for arg in template:
        if arg.startswith("{file:"):
            path = tmp_path / "dests.csv"
            path.write_text(FILES[arg[6:-1]])
            arg = str(path)
        out.append(arg.replace("{dev}", dev))
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_input_changes_nothing(loaded: tuple[str, str], tmp_path: Path, case: str) -> None:
    ns, dev = loaded
    template, message = CASES[case]
    before = dump(ns, dev)
    res = l4lb("--netns", ns, *argv(template, dev, tmp_path))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stderr.startswith("l4lb: error: ") and message in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    assert dump(ns, dev) == before


def test_a_named_pipe_changes_nothing(loaded: tuple[str, str], tmp_path: Path) -> None:
    ns, dev = loaded
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    before = dump(ns, dev)
    res = l4lb("--netns", ns, "map", "-i", dev, "-f", str(fifo), "--vip", SVC, timeout=10)
    assert res.returncode == 2 and "not a regular file (a named pipe)" in res.stderr, res.stderr
    assert dump(ns, dev) == before


def test_an_empty_netns_is_refused(loaded: tuple[str, str]) -> None:
    """An empty variable as the name ran the command in the host namespace."""
    ns, dev = loaded
    before = dump(ns, dev)
    res = l4lb("--netns", "", "map", "-i", dev, "-f", D32, "--vip", SVC)
    assert res.returncode == 2 and "not a valid network namespace name" in res.stderr
    assert res.stderr.count("\n") == 1
    assert dump(ns, dev) == before


def test_a_missing_interface_leaves_no_lock_file(loaded: tuple[str, str]) -> None:
    ns, _ = loaded
    missing = f"val{uuid.uuid4().hex[:6]}z"
    for args in (("attach", "-i", missing), ("map", "-i", missing, "-f", D32, "--vip", SVC)):
        res = l4lb("--netns", ns, *args)
        assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
        assert not lock_path(missing).exists()
    assert not [n for n in os.listdir(LOCK_DIR) if missing in n]


def test_a_repeated_vip_is_loaded_once(loaded: tuple[str, str]) -> None:
    """Reloading the same service twice in one command flipped its ring and
    generation twice, which broke established connections."""
    ns, dev = loaded

    def generation() -> int:
        state = Balancer(dev, netns=ns).state()
        return next(s.value.gen for s in state.services if s.key == KEY)

    gen = generation()
    res = l4lb("--netns", ns, "map", "-i", dev, "-f", str(DATA / "512_destinations.csv"),
               "--vip", SVC, "--vip", SVC)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("service 10.0.0.4:80/tcp:") == 1, res.stdout
    assert (
        res.stderr == "l4lb: note: 10.0.0.4:80/tcp names 10.0.0.4:80/tcp again: it is loaded once\n"
    )
    assert generation() == gen + 1
    res = l4lb("--netns", ns, "map", "-i", dev, "-f", D32, "--vip", SVC)
    assert res.returncode == 0, res.stderr


def test_lab_output_to_a_reader_that_left(tmp_path: Path) -> None:
    """`l4lb lab status | head -1`: the rest of the output has nowhere to go."""
    read, write = os.pipe()
    os.close(read)
    try:
        res = subprocess.run(
            [sys.executable, "-m", "l4lb_tui.cli", "lab", "status", "--prefix", "valnolab"],
            stdout=write, stderr=subprocess.PIPE, text=True, check=False, cwd=ROOT, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write)
    assert res.stderr == "" and res.returncode == 141, res.stderr
