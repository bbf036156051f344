"""Destination CSV files: the seed's `IP, MAC` format, plus an optional weight.

Pure logic: bytes in, destinations or errors with line numbers out.  Reading
the file lives in `read_destinations`, which only opens, sizes and reads it.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import validation
from l4lb_tui.abi import CATCH_ALL

MAX_WEIGHT = validation.MAX_WEIGHT
DEFAULT_WEIGHT = 1
# 4096 destinations at ~40 bytes a line is ~160 KiB; anything far larger is a
# mistake (a wrong file), and reading it whole would only waste memory.
MAX_FILE_BYTES = 4 * 1024 * 1024
# A line of the format with a long comment fits many times over; a longer
# one is a wrong file, and quoting it back would flood the terminal.
MAX_LINE_CHARS = 4096
_LINE_END = re.compile(r"\r\n|\r|\n")
# Column headings a spreadsheet's first row may hold, as _heading spells them.
_IP_HEADINGS = frozenset(
    {"ip", "ipv4", "ipv6", "ip address", "ipv4 address", "ipv6 address", "address", "addr",
     "backend", "backend ip",
     "host", "server", "destination", "dest", "dst"}
)  # fmt: skip
_MAC_HEADINGS = frozenset(
    {"mac", "mac address", "macaddr", "hwaddr", "hw address", "ether", "ethernet", "lladdr"}
)
_WEIGHT_HEADINGS = frozenset({"weight", "wt", "w"})


class DestinationError(Exception):
    """A destinations file that cannot be used; the message names file and line."""


@dataclass(frozen=True, slots=True)
class Destination:
    ip: str
    mac: str
    weight: int = DEFAULT_WEIGHT
    # An operator's drain keeps the weight for when the backend comes back.
    drained: bool = False
    # The health checker's verdict, apart from an operator's drain: each is
    # undone by its own hand (a recovery never undoes an operator's drain).
    down: bool = False

    @property
    def serving_weight(self) -> int:
        """The weight the ring is filled with: 0 unless the backend is serving
        (takes new flows: not drained, not down, weight above 0)."""
        return 0 if self.drained or self.down else self.weight

    def csv_line(self, with_weight: bool) -> str:
        if with_weight:
            return f"{self.ip}, {self.mac}, {self.serving_weight}"
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
    lines: tuple[int, ...] = ()  # each destination's line in the file

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.destinations)


# The parsers of the shared validation layer, under the names the rest of
# the package has used.
validate_ip = validation.backend_ip
validate_mac = validation.mac
validate_weight = validation.weight


DRAINED = "drained"  # a fourth column the console's save writes: drained, weight kept


def parse_line(fields: list[str]) -> Destination:
    if len(fields) < 2:
        raise ValueError("expected 'IP, MAC' or 'IP, MAC, WEIGHT': missing column")
    drained = len(fields) == 4 and fields[3].lower() == DRAINED
    if len(fields) > 3 and not drained:
        raise ValueError(
            f"expected at most 3 columns, found {len(fields)} "
            f"(a fourth may only say '{DRAINED}', as the console saves a drained backend)"
        )
    if len(fields) >= 3 and not fields[2]:
        raise ValueError("the weight column is empty: give 0-65535, or drop the last comma")
    weight = validate_weight(fields[2]) if len(fields) >= 3 else DEFAULT_WEIGHT
    return Destination(validate_ip(fields[0]), validate_mac(fields[1]), weight, drained=drained)


def _heading(field: str) -> str:
    return re.sub(r"[\s_-]+", " ", field.lower()).strip()


def is_header(fields: list[str]) -> bool:
    """Whether a line names the columns (`ip, mac, weight` and the like), as
    CSV files exported from a spreadsheet often begin."""
    names = [_heading(f) for f in fields]
    wanted = (_IP_HEADINGS, _MAC_HEADINGS, _WEIGHT_HEADINGS)
    return 2 <= len(names) <= 3 and all(n in w for n, w in zip(names, wanted, strict=False))


def _fields(line: str) -> list[str]:
    """A line's fields, each stripped and out of its double quotes if a
    spreadsheet put it in some."""
    fields = [f.strip() for f in line.split(",")]
    return [f[1:-1].strip() if len(f) >= 2 and f[0] == f[-1] == '"' else f for f in fields]


def _lines(text: str) -> list[str]:
    # Only the line ends an editor counts: str.splitlines() also splits at
    # form feeds and Unicode separators, and the line numbers would drift.
    if text.startswith("\ufeff"):
        text = text[1:]
    return _LINE_END.split(text)


def parse_text(text: str, vips: Collection[str] = (), families: bool = False) -> ParseResult:
    """Parse the file's text.  Blank lines, `#` comments and a heading row
    on the first line are skipped.  With `families`, a backend of another
    family than `vips` (none: the catch-all's, IPv4) is a line's error.

    Duplicate IPs are rejected rather than merged: two lines for one server
    are almost always a typo, and merging would hide which weight was meant.
    A backend cannot be one of `vips`, the VIPs of the services it is for.
    """
    dests: list[Destination] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}  # each destination's IP: its line
    first = True
    for number, raw in enumerate(_lines(text), start=1):
        if len(raw) > MAX_LINE_CHARS:
            errors.append(LineError(number, _too_long(len(raw))))
            continue
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = _fields(line)
        if first and is_header(fields):
            first = False
            continue
        first = False
        try:
            dest = parse_line(fields)
        except ValueError as exc:
            errors.append(LineError(number, str(exc)))
            continue
        problem = _duplicate(dest, seen) or _is_vip(dest, vips)
        if families and not problem:
            # Without VIPs the load is the catch-all service's, IPv4 only.
            problem = validation.family_problem(vips or [CATCH_ALL.vip], [dest.ip])
        if problem:
            errors.append(LineError(number, problem))
            continue
        seen[dest.ip] = number
        dests.append(dest)
    return ParseResult(tuple(dests), tuple(errors), tuple(seen.values()))


def _too_long(chars: int) -> str:
    return f"{chars:,} characters is too long for a destinations line (at most {MAX_LINE_CHARS:,})"


def _duplicate(dest: Destination, seen: dict[str, int]) -> str | None:
    if dest.ip in seen:
        return f"duplicate backend {dest.ip} (first on line {seen[dest.ip]})"
    return None


def _is_vip(dest: Destination, vips: Collection[str]) -> str | None:
    if dest.ip in vips:
        return f"{dest.ip} is a VIP of this load: a backend cannot be the VIP itself"
    return None


def _open_regular(path: Path) -> int:
    """A descriptor of `path`, refused before opening unless it is a regular
    file: opening a named pipe waits for a writer, forever if none comes."""
    try:
        kind = file_kind(os.stat(path).st_mode)
        if kind is None:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise DestinationError(f"{path}: no such file") from None
    except PermissionError:
        raise DestinationError(f"{path}: permission denied") from None
    except OSError as exc:
        raise DestinationError(f"{path}: {exc.strerror}") from None
    except ValueError:  # a NUL in the path
        raise DestinationError(f"{validation.shown(str(path))}: not a valid path") from None
    if kind is not None:
        raise DestinationError(f"{path}: {kind}")
    return fd


def file_kind(mode: int) -> str | None:
    """Why a file of this mode is not a destinations file (None: it may be)."""
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "not a regular file (a named pipe)"
    if stat.S_ISSOCK(mode):
        return "not a regular file (a socket)"
    return "not a regular file (a device)"


def read_text(path: Path) -> str:
    """Read a destinations file whole, refusing anything that is not a small text file."""
    fd = _open_regular(path)
    with os.fdopen(fd, "rb") as handle:
        before = os.fstat(fd)
        # Swapped for something else between the stat and the open?
        kind = file_kind(before.st_mode)
        if kind is not None:
            raise DestinationError(f"{path}: {kind}")
        if _kernel_file(before):
            # Their size says 0 whatever a read gives, and a read may take
            # what it gives (/proc/kmsg): refused unread.
            raise DestinationError(
                f"{path}: a kernel interface file (/proc, /sys), not a text file"
            )
        if before.st_size > MAX_FILE_BYTES:
            raise DestinationError(
                f"{path}: {before.st_size:,} bytes is too large for a destinations file "
                f"(limit {MAX_FILE_BYTES:,})"
            )
        try:
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise DestinationError(f"{path}: {exc.strerror}") from None
        after = os.fstat(fd)
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


def _kernel_file(st: os.stat_result) -> bool:
    """Whether a file is one of procfs or sysfs (on the device of /proc or /sys)."""
    for root in ("/proc", "/sys"):
        with contextlib.suppress(OSError):
            if os.stat(root).st_dev == st.st_dev:
                return True
    return False


def check_result(
    path: Path, result: ParseResult, capacity: int | None = None, services: int = 1
) -> None:
    """Raise DestinationError for a parse result that must not be loaded into
    `services` services of a balancer holding `capacity` backends in all
    (None: no limit is checked)."""
    if result.errors:
        first = result.errors[0]
        more = f" (and {len(result.errors) - 1} more errors)" if len(result.errors) > 1 else ""
        raise DestinationError(f"{path}: {first}{more}")
    if not result.destinations:
        raise DestinationError(f"{path}: no destinations in file")
    if capacity is not None:
        problem = validation.capacity_problem(len(result.destinations), services, capacity)
        if problem:
            raise DestinationError(f"{path}: {problem}")


def read_destinations(
    path: Path,
    capacity: int | None = None,
    services: int = 1,
    vips: Collection[str] = (),
    families: bool = False,
) -> tuple[Destination, ...]:
    """Read, parse and check a file for `services` services with these VIPs
    (`families`: as parse_text); raise DestinationError naming file and line."""
    result = parse_text(read_text(path), vips, families)
    check_result(path, result, capacity, services)
    problem = validation.family_problem(vips, (d.ip for d in result.destinations))
    if problem:
        raise DestinationError(f"{path}: {problem}")
    return result.destinations


def format_saved(dests: Iterable[Destination], heading: str) -> str:
    """What the console saves: a `#` comment heading, then the seed's format,
    with a drained backend's own weight and a `drained` column, so loading
    the file back drains it again with the weight it had."""
    lines = [f"# {line}\n" for line in heading.splitlines()]
    for d in dests:
        if d.drained:
            lines.append(f"{d.ip}, {d.mac}, {d.weight}, {DRAINED}\n")
        else:
            lines.append(d.csv_line(True) + "\n")
    return "".join(lines)


def format_csv(dests: Iterable[Destination]) -> str:
    """The seed's format; a weight column only when some weight is not the default."""
    items = list(dests)
    with_weight = any(d.serving_weight != DEFAULT_WEIGHT for d in items)
    return "".join(d.csv_line(with_weight) + "\n" for d in items)
