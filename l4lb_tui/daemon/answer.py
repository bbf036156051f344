"""The daemon's answer to its last start or reload, for `l4lb reload` to
wait on: RUN_DIR/reload.json, rewritten whole (a rename) after each one.

`seq` counts the daemon's applies (0: its start), so a reload's answer is
the first one of that pid with a higher `seq` than before the signal.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from l4lb_tui.paths import RUN_DIR

ANSWER_FILE = RUN_DIR / "reload.json"


@dataclass(frozen=True, slots=True)
class Answer:
    pid: int
    seq: int
    ok: bool
    line: str  # what was done, or why the config was refused
    # What the apply left out (a backend without a MAC...): `l4lb reload`
    # says each and exits 1, as `l4lb apply` does.
    warnings: tuple[str, ...] = ()


def write(answer: Answer, path: Path | None = None) -> None:
    """Replace the answer; one that cannot be written never stops the daemon
    (`l4lb reload` then says it had no answer)."""
    target = path or ANSWER_FILE
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".reload.", dir=target.parent)
        try:
            os.fchmod(fd, 0o644)  # as the pid file: anyone may read it
            with os.fdopen(fd, "w") as handle:
                handle.write(json.dumps(asdict(answer)) + "\n")
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def read(path: Path | None = None) -> Answer | None:
    """The last answer written (None: none, or not one this reads)."""
    try:
        fields = json.loads((path or ANSWER_FILE).read_text())
        return Answer(
            int(fields["pid"]),
            int(fields["seq"]),
            bool(fields["ok"]),
            str(fields["line"]),
            tuple(str(w) for w in fields.get("warnings", ())),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None


def remove(path: Path | None = None) -> None:
    with contextlib.suppress(OSError):
        (path or ANSWER_FILE).unlink()
