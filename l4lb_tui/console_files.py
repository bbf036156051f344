"""Destinations files as the console reads and writes them: a preview
before a load changes anything, and a save (filewrite.py)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from l4lb_tui import filewrite, validation
from l4lb_tui.console_backend import ConsoleError
from l4lb_tui.destinations import (
    Destination,
    DestinationError,
    LineError,
    ParseResult,
    format_csv,
    format_saved,
    parse_text,
    read_text,
)
from l4lb_tui.wording import counted


@dataclass(frozen=True, slots=True)
class Preview:
    """What the load screen shows before anything is applied: the file's
    lines checked as `l4lb check --vip ...` checks them for `vips` (none:
    only the file itself, the services not known yet)."""

    path: Path
    result: ParseResult | None
    error: str = ""  # the file itself could not be read
    text: str = ""
    vips: tuple[str, ...] | None = None  # None: not yet checked for services
    services: int = 1

    def against(
        self, vips: Collection[str], services: int, own: Callable[[str], str | None] | None = None
    ) -> Preview:
        """The same file checked for these services' VIPs, as `map` loads it,
        and, with `own`, for the balancer's own addresses (why an address
        cannot be a backend here, or None), which `map` refuses too."""
        # Compared as stored: a services field with no valid service (0,
        # stored as 1) re-parsed the whole file on every key typed.
        wanted, services = tuple(sorted(set(vips))), max(1, services)
        if self.result is None or (wanted, services) == (self.vips, self.services):
            return self
        result = parse_text(self.text, wanted, families=bool(wanted))
        if own is not None:
            result = _without_own(result, own)
        return replace(self, result=result, vips=wanted, services=services)

    @property
    def capacity_problem(self) -> str | None:
        if self.result is None:
            return None
        return validation.capacity_problem(len(self.result.destinations), self.services)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok and self.capacity_problem is None

    @property
    def summary(self) -> str:
        if self.result is None:
            return self.error
        count = len(self.result.destinations)
        errors = len(self.result.errors)
        if errors:
            valid = counted(count, "valid destination", grouped=True)
            return f"{valid}, {counted(errors, 'error', grouped=True)}: nothing will be loaded"
        if count == 0:
            return "no destinations in file"
        if self.capacity_problem:
            return f"{self.capacity_problem}: nothing will be loaded"
        drained = sum(1 for d in self.result.destinations if d.drained)
        if drained:
            return f"{count:,} destinations ({drained:,} drained: they load drained), no errors"
        return f"{count:,} destinations, no errors"


def _without_own(result: ParseResult, own: Callable[[str], str | None]) -> ParseResult:
    """`result` with each destination that is one of the balancer's own
    addresses turned into an error at its line."""
    kept, lines, errors = [], [], list(result.errors)
    for dest, line in zip(result.destinations, result.lines, strict=False):
        if why := own(dest.ip):
            errors.append(LineError(line, why))
        else:
            kept.append(dest)
            lines.append(line)
    if len(errors) == len(result.errors):
        return result
    errors.sort(key=lambda e: e.line)
    return ParseResult(tuple(kept), tuple(errors), tuple(lines))


def preview_csv(path: Path) -> Preview:
    """Read and parse a destinations file without touching the balancer
    (`Preview.against` checks it for services)."""
    try:
        text = read_text(path)
    except DestinationError as exc:
        return Preview(path, None, str(exc))
    return Preview(path, parse_text(text), text=text)


def family_file(path: Path, v6: bool) -> Path:
    """The file the load dialog opens at for a service of this family: the
    lab writes destinations.csv and destinations6.csv side by side, so the
    sibling named for the family when there is one, else `path`."""
    if path.is_dir() or not path.suffix:
        return path
    stem = path.stem.removesuffix("6")
    sibling = path.with_name(f"{stem}{'6' if v6 else ''}{path.suffix}")
    return sibling if sibling != path and sibling.is_file() else path


def save_csv(path: Path, dests: Sequence[Destination], heading: str = "") -> str:
    """Write the seed's format atomically (see filewrite): only over a
    regular file, or where a symbolic link points.  With a `heading` (what
    and when), drained backends keep their weight (format_saved); without
    one, the seed's format exactly (format_csv)."""
    text = format_saved(dests, heading) if heading else format_csv(dests)
    try:
        target = filewrite.replace_text(path, text)
    except filewrite.WriteError as exc:
        raise ConsoleError(str(exc)) from None
    saved = counted(len(dests), "backend", grouped=True)
    return f"saved {saved} to {target}{filewrite.through_link(path, target)}"
