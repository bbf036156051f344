"""Lines another process asks the console to say, through the file that
$L4LB_CONSOLE_NOTES names: `l4lb demo --nodes` says there when it killed a
node and when the router dropped it.  The console owns the terminal: a line
printed meanwhile lands wherever the cursor is and is painted over at the
next refresh (t16 F13), so the console shows each as a notification.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

NOTES_ENV = "L4LB_CONSOLE_NOTES"
NOTES_POLL = 0.5  # seconds between looks at the file
_MAX_READ = 64 * 1024  # a burst of notes, not a log


def notes_path() -> Path | None:
    found = os.environ.get(NOTES_ENV, "")
    return Path(found) if found else None


def add_note(path: Path, line: str) -> None:
    """Append one line for the console (a line, so newlines are flattened)."""
    with path.open("a", encoding="utf-8") as out:
        out.write(" ".join(line.split()) + "\n")


@dataclass(slots=True)
class NotesReader:
    """The lines added to `path` since the last call (whole lines only)."""

    path: Path
    offset: int = 0

    def new_lines(self) -> list[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read(_MAX_READ)
        except OSError:
            return []
        whole, newline, _ = data.rpartition(b"\n")
        if not newline:
            return []
        self.offset += len(whole) + 1
        return [s for s in whole.decode(errors="replace").splitlines() if s.strip()]
