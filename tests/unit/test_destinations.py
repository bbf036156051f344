from __future__ import annotations

from pathlib import Path

import pytest

from l4lb_tui.destinations import (
    Destination,
    DestinationError,
    format_csv,
    parse_text,
    read_destinations,
    validate_ip,
)
from tests.conftest import DATA


@pytest.mark.parametrize("n", [32, 128, 256, 512])
def test_seed_samples_load_unchanged(n: int) -> None:
    dests = read_destinations(DATA / f"{n}_destinations.csv")
    assert len(dests) == n
    assert all(d.weight == 1 for d in dests)


def test_seed_format_roundtrip() -> None:
    text = (DATA / "32_destinations.csv").read_text()
    dests = parse_text(text).destinations
    assert parse_text(format_csv(dests)).destinations == dests
    assert format_csv(dests).splitlines()[0].count(",") == 1


def test_weights_column_optional() -> None:
    res = parse_text("10.0.0.1, 02:00:00:00:00:01, 5\n10.0.0.2, 02:00:00:00:00:02\n")
    assert [d.weight for d in res.destinations] == [5, 1]
    assert "5" in format_csv(res.destinations)


def test_bom_crlf_blank_and_comments_accepted() -> None:
    text = (
        "\ufeff# backends\r\n10.0.0.1, 02:00:00:00:00:01\r\n\r\n10.0.0.2, 02:00:00:00:00:02 # b\r\n"
    )
    res = parse_text(text)
    assert not res.errors
    assert [d.ip for d in res.destinations] == ["10.0.0.1", "10.0.0.2"]


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("10.0.0.300, 02:00:00:00:00:01", "not an IPv4 address"),
        ("10.0.0.1, 02:00:00:00:00", "not a MAC address"),
        ("10.0.0.1, 01:00:5e:00:00:01", "multicast MAC"),
        ("10.0.0.1, ff:ff:ff:ff:ff:ff", "broadcast MAC"),
        ("10.0.0.1", "missing column"),
        ("10.0.0.1, 02:00:00:00:00:01, 1, x", "at most 3 columns"),
        ("10.0.0.1, 02:00:00:00:00:01, 65536", "out of range"),
        ("10.0.0.1, 02:00:00:00:00:01, -1", "whole number"),
        ("224.0.0.1, 02:00:00:00:00:01", "224.0.0.1 is a multicast address"),
    ],
)
def test_bad_lines_name_the_line(line: str, fragment: str) -> None:
    res = parse_text("10.0.0.9, 02:00:00:00:00:09\n" + line + "\n")
    assert len(res.errors) == 1
    assert res.errors[0].line == 2
    assert fragment in res.errors[0].message


def test_a_drained_column_loads_drained_with_its_weight() -> None:
    res = parse_text(
        "# l4lb: the backends of service 10.0.0.4:80/tcp on lb0, saved 2026-11-30 15:40:00 UTC\n"
        "10.0.0.1, 02:00:00:00:00:01, 3, drained\n10.0.0.2, 02:00:00:00:00:02, 2\n"
    )
    assert not res.errors
    first, second = res.destinations
    assert (first.weight, first.drained, first.serving_weight) == (3, True, 0)
    assert (second.weight, second.drained) == (2, False)
    assert "a fourth may only say 'drained'" in str(
        parse_text("10.0.0.1, 02:00:00:00:00:01, 3, draining\n").errors[0]
    )


def test_duplicates_rejected_with_both_lines() -> None:
    res = parse_text("10.0.0.1, 02:00:00:00:00:01\n10.0.0.1, 02:00:00:00:00:02\n")
    assert "duplicate backend 10.0.0.1 (first on line 1)" in str(res.errors[0])
    assert res.errors[0].line == 2


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DestinationError, match="no such file"):
        read_destinations(tmp_path / "missing.csv")
    with pytest.raises(DestinationError, match="is a directory"):
        read_destinations(tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DestinationError, match="no destinations"):
        read_destinations(empty)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\x7fELF\x00\x01")
    with pytest.raises(DestinationError, match="binary"):
        read_destinations(binary)
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.truncate(100 * 1024 * 1024)
    with pytest.raises(DestinationError, match="too large"):
        read_destinations(big)
    bad = tmp_path / "bad.csv"
    bad.write_text("10.0.0.1, zz\n")
    with pytest.raises(DestinationError, match=r"bad.csv: line 1: "):
        read_destinations(bad)


def test_capacity(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text(
        "".join(
            f"10.1.{i // 256}.{i % 256}, 02:00:00:00:{i // 256:02x}:{i % 256:02x}\n"
            for i in range(1, 40)
        )
    )
    with pytest.raises(DestinationError, match="at most 10"):
        read_destinations(path, capacity=10)


def test_destination_equality_is_by_value() -> None:
    assert Destination("10.0.0.1", "02:00:00:00:00:01") == Destination(
        "10.0.0.1", "02:00:00:00:00:01", 1
    )


@pytest.mark.parametrize("n", [32, 128, 256, 512])
def test_shipped_samples_load(n: int) -> None:
    path = Path(__file__).parents[2] / "destination_samples" / f"{n}_destinations.csv"
    assert len(read_destinations(path)) == n


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        (" 10.0.0.1 ", "10.0.0.1"),
        ("223.255.255.255", "223.255.255.255"),
        ("169.254.1.1", "169.254.1.1 is a link-local address, which cannot be a backend"),
        ("240.0.0.1", "240.0.0.1 is a reserved (class E) address, which cannot be a backend"),
        ("224.0.0.1", "224.0.0.1 is a multicast address, which cannot be a backend"),
        ("239.255.255.255", "239.255.255.255 is a multicast address, which cannot be a backend"),
        ("0.0.0.0", "0.0.0.0 is the unspecified address, which cannot be a backend"),
        ("0.1.2.3", "0.1.2.3 is a 'this network' (0.0.0.0/8) address, which cannot be a backend"),
        ("127.0.0.1", "127.0.0.1 is a loopback address, which cannot be a backend"),
        ("255.255.255.255", "255.255.255.255 is the broadcast address, which cannot be a backend"),
        ("01.2.3.4", "'01.2.3.4' is not an IPv4 address"),
        ("1.2.3", "'1.2.3' is not an IPv4 address"),
        ("256.1.1.1", "'256.1.1.1' is not an IPv4 address"),
    ],
)
def test_ip_validation(text: str, outcome: str) -> None:
    """The fast path (inet_pton) and ipaddress agree on what passes and why."""
    if " " in outcome:
        with pytest.raises(ValueError) as err:
            validate_ip(text)
        assert str(err.value) == outcome
    else:
        assert validate_ip(text) == outcome
