"""Destination CSV files: the seed's `IP, MAC` format, plus an optional weight.

Pure logic: bytes in, destinations or errors with line numbers out.  Reading
the file lives in `read_destinations`, which only opens, sizes and reads it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MAX_WEIGHT = 65535
_UNSPECIFIED = bytes(4)
_BROADCAST = b"\xff" * 4
DEFAULT_WEIGHT = 1
# 4096 destinations at ~40 bytes a line is ~160 KiB; anything far larger is a
# mistake (a wrong file), and reading it whole would only waste memory.
MAX_FILE_BYTES = 4 * 1024 * 1024

_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$")


class DestinationError(Exception):
    """A destinations file that cannot be used; the message names file and line."""


@dataclass(frozen=True, slots=True)
class Destination:
    ip: str
    mac: str
    weight: int = DEFAULT_WEIGHT
    # Draining keeps the weight for when the backend comes back; weight 0
    # drains too.  Either way the backend gets no new flows.
    drained: bool = False

    @property
    def effective_weight(self) -> int:
        return 0 if self.drained else self.weight

    def csv_line(self, with_weight: bool) -> str:
        if with_weight:
            return f"{self.ip}, {self.mac}, {self.effective_weight}"
        return f"{self.ip}, {self.mac}"


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class ParseResult:
    destinations: tuple[Destination, ...]
    errors: tuple[LineError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.destinations)


def validate_ip(text: str) -> str:
    """Return the canonical unicast IPv4 address or raise ValueError."""
    try:
        # inet_pton takes exactly the canonical dotted quad (no leading zeros,
        # as ipaddress) at a fraction of ipaddress's cost: a 4096-line file
        # spent most of its parse time here.
        raw = socket.inet_pton(socket.AF_INET, text.strip())
    except OSError:
        pass
    else:
        if not (224 <= raw[0] <= 239 or raw in (_UNSPECIFIED, _BROADCAST)):
            return text.strip()
    try:
        addr = ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not an IPv4 address") from None
    if addr.is_multicast or addr.is_unspecified or addr == ipaddress.IPv4Address("255.255.255.255"):
        raise ValueError(f"{addr} is not a unicast address")
    return str(addr)


def validate_mac(text: str) -> str:
    """Return the MAC in lower-case colon form or raise ValueError."""
    mac = text.strip()
    if not _MAC_RE.match(mac):
        raise ValueError(f"{mac!r} is not a MAC address (expected aa:bb:cc:dd:ee:ff)")
    mac = mac.replace("-", ":").lower()
    first = int(mac[:2], 16)
    if mac == "ff:ff:ff:ff:ff:ff":
        raise ValueError(f"{mac} is the broadcast MAC, not a backend")
    if first & 1:
        raise ValueError(f"{mac} is a multicast MAC, not a backend")
    if mac == "00:00:00:00:00:00":
        raise ValueError(f"{mac} is the all-zero MAC, not a backend")
    return mac


def validate_weight(text: str) -> int:
    raw = text.strip()
    if not raw.isdigit():
        raise ValueError(f"weight {raw!r} is not a whole number from 0 to {MAX_WEIGHT}")
    weight = int(raw)
    if weight > MAX_WEIGHT:
        raise ValueError(f"weight {weight} is out of range 0-{MAX_WEIGHT}")
    return weight


def parse_line(fields: list[str]) -> Destination:
    if len(fields) < 2:
        raise ValueError("expected 'IP, MAC' or 'IP, MAC, WEIGHT': missing column")
    if len(fields) > 3:
        raise ValueError(f"expected at most 3 columns, found {len(fields)}")
    weight = validate_weight(fields[2]) if len(fields) == 3 else DEFAULT_WEIGHT
    return Destination(validate_ip(fields[0]), validate_mac(fields[1]), weight)


def parse_text(text: str) -> ParseResult:
    """Parse the file's text.  Blank lines and `#` comments are skipped.

    Duplicate IPs are rejected rather than merged: two lines for one server
    are almost always a typo, and merging would hide which weight was meant.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    dests: list[Destination] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            dest = parse_line([f.strip() for f in line.split(",")])
        except ValueError as exc:
            errors.append(LineError(number, str(exc)))
            continue
        if dest.ip in seen:
            errors.append(
                LineError(number, f"duplicate backend {dest.ip} (first on line {seen[dest.ip]})")
            )
            continue
        seen[dest.ip] = number
        dests.append(dest)
    return ParseResult(tuple(dests), tuple(errors))


def read_text(path: Path) -> str:
    """Read a destinations file whole, refusing anything that is not a small text file."""
    try:
        with path.open("rb") as handle:
            before = os.fstat(handle.fileno())
            if stat.S_ISDIR(before.st_mode):
                raise DestinationError(f"{path}: is a directory, not a destinations file")
            if not stat.S_ISREG(before.st_mode):
                raise DestinationError(f"{path}: not a regular file")
            if before.st_size > MAX_FILE_BYTES:
                raise DestinationError(
                    f"{path}: {before.st_size:,} bytes is too large for a destinations file "
                    f"(limit {MAX_FILE_BYTES:,})"
                )
            data = handle.read(MAX_FILE_BYTES + 1)
            after = os.fstat(handle.fileno())
    except IsADirectoryError:
        raise DestinationError(f"{path}: is a directory, not a destinations file") from None
    except FileNotFoundError:
        raise DestinationError(f"{path}: no such file") from None
    except PermissionError:
        raise DestinationError(f"{path}: permission denied") from None
    except OSError as exc:
        raise DestinationError(f"{path}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise DestinationError(f"{path}: too large for a destinations file")
    if (before.st_mtime_ns, before.st_size) != (after.st_mtime_ns, after.st_size) or len(
        data
    ) != after.st_size:
        raise DestinationError(f"{path}: the file changed while it was being read; try again")
    if b"\0" in data:
        raise DestinationError(f"{path}: binary data, not a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DestinationError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None


def check_result(path: Path, result: ParseResult, capacity: int | None = None) -> None:
    """Raise DestinationError for a parse result that must not be loaded."""
    if result.errors:
        first = result.errors[0]
        more = f" (and {len(result.errors) - 1} more errors)" if len(result.errors) > 1 else ""
        raise DestinationError(f"{path}: {first}{more}")
    if not result.destinations:
        raise DestinationError(f"{path}: no destinations in file")
    if capacity is not None and len(result.destinations) > capacity:
        raise DestinationError(
            f"{path}: {len(result.destinations):,} destinations, "
            f"but the balancer holds at most {capacity:,}"
        )


def read_destinations(path: Path, capacity: int | None = None) -> tuple[Destination, ...]:
    """Read, parse and check a file; raise DestinationError naming file and line."""
    result = parse_text(read_text(path))
    check_result(path, result, capacity)
    return result.destinations


def format_csv(dests: Iterable[Destination]) -> str:
    """The seed's format; a weight column only when some weight is not the default."""
    items = list(dests)
    with_weight = any(d.effective_weight != DEFAULT_WEIGHT for d in items)
    return "".join(d.csv_line(with_weight) + "\n" for d in items)
