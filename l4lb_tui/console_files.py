"""Destinations files as the console reads and writes them: a preview
before a load changes anything, and an atomic save."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import abi
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
        return f"{count:,} destinations, no errors"


def preview_csv(path: Path) -> Preview:
    """Read and parse a destinations file without touching the balancer."""
    try:
        return Preview(path, parse_text(read_text(path)))
    except DestinationError as exc:
        return Preview(path, None, str(exc))


def save_csv(path: Path, dests: Sequence[Destination], heading: str = "") -> str:
    """Write the seed's format atomically: a temp file beside it, then rename.
    With a `heading` (what and when), drained backends keep their weight
    (format_saved); without one, the seed's format exactly (format_csv).

    A reader (or a crash) sees the old file or the new one, never half of one.
    """
    path = path.expanduser()
    if path.is_dir():
        raise ConsoleError(f"{path}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise ConsoleError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(format_saved(dests, heading) if heading else format_csv(dests))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConsoleError(f"cannot write {path}: {exc.strerror}") from None
    return f"saved {len(dests):,} backends to {path}"
