"""Operator input the CLI refuses before it touches anything: one line
`l4lb: error: ...`, exit status 2, no traceback.  None of these needs the
kernel: each is refused before the balancer is looked at."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA, RUN_DIR

ROOT = Path(__file__).parents[2]
NO_DEV = "valnosuch0"


def l4lb(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=timeout,
    )


def refused(*args: str, timeout: float = 30) -> str:
    """The one line `l4lb args` answers with, having checked that it is one."""
    res = l4lb(*args, timeout=timeout)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert res.stderr.startswith("l4lb: error: "), res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    return res.stderr


def backends(count: int) -> str:
    """`count` lines of distinct backends in 10.1.0.0/15, beside no VIP."""
    return "".join(
        f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}, "
        f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}\n"
        for i in range(65_537, 65_537 + count)
    )


def csv(tmp_path: Path, text: str, name: str = "d.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_named_pipe_is_refused_at_once(tmp_path: Path) -> None:
    """Opening a FIFO for reading waits for a writer: check and map hung."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for args in (("check", str(fifo)), ("map", "-i", NO_DEV, "-f", str(fifo))):
        assert "not a regular file (a named pipe)" in refused(*args, timeout=10)


@pytest.mark.parametrize(
    ("count", "vips", "message"),
    [
        (70_000, (), "70,000 destinations, but the balancer holds at most 4,096"),
        (4_097, (), "4,097 destinations, but the balancer holds at most 4,096"),
        (4_097, ("10.0.0.4:80/tcp",), "4,097 destinations, but the balancer holds at most 4,096"),
        (2_100, ("10.0.0.4:80",), "2,100 destinations in 2 services need 4,200 backend slots"),
        (1_500, ("10.0.0.4:80/tcp", "10.0.0.4:81/tcp", "10.0.0.4:82/udp"), "need 4,500"),
    ],
)
def test_check_refuses_what_map_refuses(
    tmp_path: Path, count: int, vips: tuple[str, ...], message: str
) -> None:
    path = csv(tmp_path, backends(count))
    options = [x for vip in vips for x in ("--vip", vip)]
    assert message in refused("check", path, *options)
    assert message in refused("map", "-i", NO_DEV, "-f", path, *options)


def test_check_takes_the_load_options_of_map(tmp_path: Path) -> None:
    path = csv(tmp_path, backends(2_048))
    res = l4lb("check", path, "--vip", "10.0.0.4:80", "--fill", "roundrobin", "--ring-size", "4096")
    assert res.returncode == 0 and "2048 destinations, no errors" in res.stdout, res.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ("--ring-size", "7"),
            "a ring of 7 slots is smaller than the 8 backends that take traffic",
        ),
        (("--ring-size", "0"), "ring size 0 is out of range 1-16384"),
        (("--ring-size", "-1"), "ring size '-1' is not a whole number"),
        (("--ring-size", "16390"), "out of range 1-16384"),
        (("--fill", "maglev", "--ring-size", "100"), "Maglev needs a prime ring size"),
    ],
)
def test_ring_sizes_that_leave_a_backend_out_are_refused(
    tmp_path: Path, options: tuple[str, ...], message: str
) -> None:
    path = csv(tmp_path, backends(8))
    assert message in refused("check", path, *options)
    assert message in refused("map", "-i", NO_DEV, "-f", path, *options)


def test_a_drained_backend_needs_no_slot(tmp_path: Path) -> None:
    path = csv(tmp_path, backends(7) + "10.0.9.9, 02:00:00:00:09:09, 0\n")
    assert l4lb("check", path, "--ring-size", "7").returncode == 0


@pytest.mark.parametrize(
    "saddr", ["300.1.1.1", "abc", "::1", "10.0.0.1;id", "0.0.0.0", "224.0.0.1", "255.255.255.255"]
)
def test_source_addresses_are_unicast(saddr: str) -> None:
    for args in (
        ("attach", "-i", NO_DEV),
        ("map", "-i", NO_DEV, "-f", str(DATA / "32_destinations.csv")),
    ):
        assert "argument -s/--saddr: " in refused(*args, "-s", saddr)


@pytest.mark.parametrize(
    ("vip", "message"),
    [
        ("10.0.0.4:", "the port is empty"),
        ("255.255.255.255:80", "the broadcast address, which cannot be a VIP"),
        ("240.0.0.4:80", "class E"),
        ("224.0.0.4:80", "multicast"),
        ("127.0.0.1:80", "loopback"),
        ("0.0.0.0:80", "unspecified"),
        ("169.254.0.4:80", "link-local"),
        ("10.0.0.4:\uff18\uff10", "port must be 0-65535"),
        ("10.0.0.4:80/sctp", "protocol must be tcp or udp"),
    ],
)
def test_vips_are_refused_in_every_command(vip: str, message: str) -> None:
    for args in (
        ("map", "-i", NO_DEV, "-f", str(DATA / "32_destinations.csv")),
        ("check", str(DATA / "32_destinations.csv")),
    ):
        assert message in refused(*args, "--vip", vip)
    args = ("backend", "remove", "-i", NO_DEV, "--ip", "10.0.0.11", "--vip", vip)
    assert message in refused(*args)
    assert message in refused("service", "del", "-i", NO_DEV, "--vip", vip)


def test_an_empty_netns_is_not_the_host(tmp_path: Path) -> None:
    """`--netns "$NS"` with NS unset used to run in the host's namespace."""
    path = str(DATA / "32_destinations.csv")
    assert "'' is not a valid network namespace name" in refused("--netns", "", "check", path)
    assert "not a valid network namespace name" in refused("--netns", "lab/x", "check", path)


@pytest.mark.parametrize("interval", ["-1", "0", "nan", "inf", "1e99", "99999999", "\uff11"])
def test_stats_intervals_are_checked(interval: str) -> None:
    assert "argument --interval: interval" in refused("stats", "-i", NO_DEV, "--interval", interval)


@pytest.mark.parametrize("wait", ["-1", "nan", "inf", "1e9"])
def test_wait_is_checked(wait: str) -> None:
    assert "argument --wait: wait" in refused("--wait", wait, "stats", "-i", NO_DEV)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--weight", "\uff13"), "weight '\uff13' is not a whole number"),
        (("--weight", "\xb2"), "weight '\xb2' is not a whole number"),
        (("--weight", "70000"), "weight 70000 is out of range 0-65535"),
        (("--weight", "-1"), "weight '-1' is not a whole number"),
        (("--mac", "ff:ff:ff:ff:ff:ff"), "broadcast MAC"),
        (("--mac", "01:00:5e:00:00:01"), "multicast MAC"),
        (("--mac", "00:00:00:00:00:00"), "all-zero MAC"),
        (("--ip", "127.0.0.1"), "127.0.0.1 is a loopback address, which cannot be a backend"),
        (("--ip", "10.0.0.4"), "10.0.0.4 is the VIP of 10.0.0.4:80/tcp"),
    ],
)
def test_backend_inputs(args: tuple[str, ...], message: str) -> None:
    base = {"--ip": "10.0.0.11", "--mac": "02:00:00:00:00:0b", "--weight": "1"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    options = [x for item in base.items() for x in item]
    line = refused("backend", "add", "-i", NO_DEV, "--vip", "10.0.0.4:80/tcp", *options)
    assert message in line


def test_options_an_action_does_not_use_are_refused() -> None:
    args = ("-i", NO_DEV, "--vip", "10.0.0.4:80/tcp", "--ip", "10.0.0.11")
    assert "--weight is for" in refused("backend", "drain", *args, "--weight", "3")
    assert "--mac is for" in refused("backend", "remove", *args, "--mac", "02:00:00:00:00:0b")
    assert "give the new weight" in refused("backend", "weight", *args)


def test_an_empty_file_name_is_not_the_current_directory() -> None:
    assert "the file name is empty" in refused("check", "")
    assert "the file name is empty" in refused("map", "-i", NO_DEV, "-f", "")


def test_argparse_errors_are_one_line() -> None:
    assert "the following arguments are required: -f/--file" in refused("map", "-i", NO_DEV)
    assert "invalid choice: 'bogus'" in refused("bogus")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("10.0.0.12, 02:00:00:00:00:0c, \uff13", "line 2: weight '\uff13' is not a whole number"),
        ("10.0.0.12, 02:00:00:00:00:0c, \xb3", "line 2: weight '\xb3' is not a whole number"),
        ("127.0.0.1, 02:00:00:00:00:0c", "line 2: 127.0.0.1 is a loopback address"),
        ("240.0.0.1, 02:00:00:00:00:0c", "line 2: 240.0.0.1 is a reserved (class E) address"),
        ("239.1.1.1, 02:00:00:00:00:0c", "line 2: 239.1.1.1 is a multicast address"),
        ("255.255.255.255, 02:00:00:00:00:0c", "line 2: 255.255.255.255 is the broadcast"),
        ("0.0.0.0, 02:00:00:00:00:0c", "line 2: 0.0.0.0 is the unspecified address"),
        ("10.0.0.12, 00:00:00:00:00:00", "line 2: 00:00:00:00:00:00 is the all-zero MAC"),
        pytest.param(
            "10.0.0.12, " + "f" * 100_000, "line 2: 100,011 characters is too long", id="long"
        ),
    ],
)
def test_bad_backend_lines(tmp_path: Path, line: str, message: str) -> None:
    path = csv(tmp_path, f"10.0.0.11, 02:00:00:00:00:0b\n{line}\n")
    res = l4lb("check", path)
    assert (
        res.returncode == 2 and res.stderr == f"{path}: {message}" + res.stderr.split(message, 1)[1]
    )
    assert res.stderr.count("\n") == 1 and "invalid literal" not in res.stderr
    assert message in refused("map", "-i", NO_DEV, "-f", path)


def test_a_heading_row_is_skipped(tmp_path: Path) -> None:
    path = csv(tmp_path, "ip,mac,weight\n10.0.0.11,02:00:00:00:00:0b,2\n")
    res = l4lb("check", path)
    assert res.returncode == 0 and "1 destination, no errors" in res.stdout, res.stderr


def test_the_vip_is_not_a_backend(tmp_path: Path) -> None:
    path = csv(tmp_path, "10.0.0.11, 02:00:00:00:00:0b\n10.0.0.4, 02:00:00:00:00:04\n")
    res = l4lb("check", path, "--vip", "10.0.0.4:80/tcp")
    assert res.returncode == 2
    assert "line 2: 10.0.0.4 is a VIP of this load" in res.stderr, res.stderr
    assert "line 2: 10.0.0.4 is a VIP" in refused(
        "map", "-i", NO_DEV, "-f", path, "--vip", "10.0.0.4:80/tcp"
    )
    assert l4lb("check", path).returncode == 0, "without --vip no VIP is known"


def test_check_lists_the_first_hundred_errors(tmp_path: Path) -> None:
    path = csv(tmp_path, "bogus\n" * 5000)
    res = l4lb("check", path)
    lines = res.stderr.splitlines()
    assert res.returncode == 2 and len(lines) == 101 and "and 4,900 more errors" in lines[-1]


def test_a_repeated_vip_is_one_service(tmp_path: Path) -> None:
    path = str(DATA / "32_destinations.csv")
    res = l4lb("check", path, "--vip", "10.0.0.4:8080/tcp", "--vip", "10.0.0.4:8080/tcp")
    assert res.returncode == 0, res.stderr
    assert res.stderr == (
        "l4lb: note: 10.0.0.4:8080/tcp names 10.0.0.4:8080/tcp again: it is loaded once\n"
    )
    res = l4lb("check", path, "--vip", "10.0.0.4:53", "--vip", "10.0.0.4:53/udp")
    assert res.returncode == 0 and "names 10.0.0.4:53/udp again" in res.stderr, res.stderr


def closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """`l4lb args` writing into a pipe whose reader is gone, as with `| head`."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "l4lb_tui.cli", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            cwd=ROOT,
            timeout=30,
        )
    finally:
        os.close(write)


def test_a_reader_that_leaves_is_no_error() -> None:
    res = closed_pipe("check", str(DATA / "32_destinations.csv"))
    assert res.stderr == "" and res.returncode == 141, res.stderr
    # argparse itself drops what it cannot write of the help.
    res = closed_pipe("map", "--help")
    assert res.stderr == "" and res.returncode == 0, res.stderr


def test_the_suite_has_its_own_run_directory() -> None:
    from l4lb_tui import paths

    assert paths.RUN_DIR == RUN_DIR != Path("/run/l4lb")
    child = subprocess.run(
        [sys.executable, "-c", "from l4lb_tui.paths import RUN_DIR; print(RUN_DIR)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert child.stdout.strip() == str(RUN_DIR)


def test_a_lock_leaves_no_file() -> None:
    from l4lb_tui.lock import interface_lock, lock_path

    with interface_lock("valnolock0"):
        assert lock_path("valnolock0").exists()
    assert not lock_path("valnolock0").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["map", "-i", "a0", "-f", "a.csv", "-f", "b.csv"],
        ["map", "-i", "a0", "-i", "b0", "-f", "a.csv"],
        [
            "backend",
            "add",
            "-i",
            "a0",
            "--vip",
            "10.0.0.4:80",
            "--ip",
            "10.0.0.11",
            "--ip",
            "10.0.0.12",
        ],
        ["--netns", "x", "--netns", "y", "stats", "-i", "a0"],
        ["attach", "-i", "a0", "--mode", "driver", "--mode", "generic"],
    ],
)
def test_a_one_value_option_given_twice_is_refused(argv: list[str]) -> None:
    res = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *argv], capture_output=True, text=True, check=False
    )
    assert res.returncode == 2
    assert "is given more than once: give it once" in res.stderr
    assert res.stderr.count("\n") == 1


def test_an_interrupt_while_importing_ends_quietly() -> None:
    """The package's first act: a Ctrl-C before main runs exits 130, quietly."""
    code = (
        "import signal, l4lb_tui; h = signal.getsignal(signal.SIGINT); "
        "print(h is not signal.default_int_handler)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
    assert res.stdout.strip() == "True"
