"""Destinations files as the console reads and writes them: a preview
before a load changes anything, and a save (filewrite.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import abi, filewrite
from l4lb_tui.console_backend import ConsoleError
from l4lb_tui.destinations import (
    Destination,
    DestinationError,
    ParseResult,
    format_csv,
    format_saved,
    parse_text,
    read_text,
)
from l4lb_tui.wording import counted


@dataclass(frozen=True, slots=True)
class Preview:
    """What the load screen shows before anything is applied."""

    path: Path
    result: ParseResult | None
    error: str = ""  # the file itself could not be read

    @property
    def ok(self) -> bool:
        return (
            self.result is not None
            and self.result.ok
            and len(self.result.destinations) <= abi.MAX_BACKENDS
        )

    @property
    def summary(self) -> str:
        if self.result is None:
            return self.error
        count = len(self.result.destinations)
        errors = len(self.result.errors)
        if errors:
            return f"{count:,} valid destinations, {errors:,} errors: nothing will be loaded"
        if count == 0:
            return "no destinations in file"
        if count > abi.MAX_BACKENDS:
            return f"{count:,} destinations: the balancer holds at most {abi.MAX_BACKENDS:,}"
        drained = sum(1 for d in self.result.destinations if d.drained)
        if drained:
            return f"{count:,} destinations ({drained:,} drained: they load drained), no errors"
        return f"{count:,} destinations, no errors"


def preview_csv(path: Path) -> Preview:
    """Read and parse a destinations file without touching the balancer."""
    try:
        return Preview(path, parse_text(read_text(path)))
    except DestinationError as exc:
        return Preview(path, None, str(exc))


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
