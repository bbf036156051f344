"""Validators and suggesters for the console's inputs, over the pure parsers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from textual.suggester import Suggester
from textual.validation import ValidationResult, Validator

from l4lb_tui import validation
from l4lb_tui.services import parse_service_specs


class ParserValidator(Validator):
    """Valid when the parser accepts the text; its ValueError is the message."""

    def __init__(self, parse: Callable[[str], object], allow_blank: bool = False) -> None:
        super().__init__()
        self.parse = parse
        self.allow_blank = allow_blank

    def validate(self, value: str) -> ValidationResult:
        if self.allow_blank and not value.strip():
            return self.success()
        try:
            self.parse(value)
        except ValueError as exc:
            return self.failure(str(exc))
        return self.success()


class IpValidator(ParserValidator):
    """A unicast address that is neither already a backend of the service,
    nor its VIP, nor one of the balancer's own (`own`: why not, or None)."""

    def __init__(
        self,
        taken: Collection[str] = (),
        vips: Collection[str] = (),
        own: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__(self._check)
        self.taken = set(taken)
        self.vips = set(vips)
        self.own = own

    def _check(self, value: str) -> None:
        ip = validation.backend_ip(value)
        if ip in self.vips:
            raise ValueError(f"{ip} is the VIP of this service: a backend cannot be the VIP itself")
        if self.own is not None and (problem := self.own(ip)):
            raise ValueError(problem)
        if ip in self.taken:
            raise ValueError(f"{ip} is already a backend of this service")


def mac_validator() -> ParserValidator:
    return ParserValidator(validation.mac)


def weight_validator() -> ParserValidator:
    return ParserValidator(validation.weight)


def services_validator() -> ParserValidator:
    return ParserValidator(parse_service_specs, allow_blank=True)


class NeighbourSuggester(Suggester):
    """Offers the MAC the kernel's neighbour table holds for the typed IP."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=False)
        self.mac: str | None = None

    async def get_suggestion(self, value: str) -> str | None:
        if self.mac and self.mac.startswith(value.lower()):
            return self.mac
        return None


class PathSuggester(Suggester):
    """Completes the last path component (accept with → like a shell's Tab).

    Typing asks on every key: the folder is read in a thread, never on the
    event loop (a slow or remote filesystem, a large folder, a ~user looked
    up in NSS would hold every key behind it), and its listing is kept while
    the folder is unchanged, so typing in one folder lists it once.
    """

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._listings: dict[Path, _Listing] = {}

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        return await asyncio.to_thread(self._suggest, value)

    def _suggest(self, value: str) -> str | None:
        path = Path(value).expanduser()
        folder, stem = (path, "") if value.endswith("/") else (path.parent, path.name)
        for name in self._names(folder):
            if name.startswith(stem) and name != stem and not name.startswith("."):
                return value + name[len(stem) :]
        return None

    def _names(self, folder: Path) -> tuple[str, ...]:
        """The folder's entries, sorted, a folder's with a '/' (none: unreadable)."""
        try:
            mtime = folder.stat().st_mtime_ns
        except OSError:
            return ()
        kept = self._listings.get(folder)
        # Git's "racily clean" rule: a folder changed just before it was
        # listed may change again within the same mtime tick (a jiffy, with
        # coarse timestamps), so such a listing is not trusted.
        if kept is not None and kept.mtime == mtime and kept.listed - mtime > RACY_NS:
            return kept.names
        listed = time.time_ns()
        try:
            names = tuple(sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()))
        except OSError:
            return ()
        self._listings[folder] = _Listing(mtime, listed, names)
        return names


RACY_NS = 50_000_000  # well over a timestamp tick (a jiffy, 1-10 ms)


@dataclass(frozen=True, slots=True)
class _Listing:
    mtime: int  # the folder's when it was listed, ns
    listed: int  # when (wall clock, ns: the clock mtimes come from)
    names: tuple[str, ...]
