"""What a remote l4lb's answer says (pure): its version, and its apply's or
diff's output read back as the lines a local one would have given."""

from __future__ import annotations

from dataclasses import dataclass

from l4lb_tui.remote.ssh import Answer

ERROR = "l4lb: error: "
WARNING = "warning: "
REFUSED = "apply would refuse this: "


@dataclass(frozen=True, slots=True)
class Reply:
    lines: list[str]  # stdout: what was (or would be) changed, a line each
    warnings: list[str]  # its `warning:` lines, without the word
    error: str  # "" when it succeeded: else its one line of error


def warning(line: str) -> str | None:
    """A line of its stderr as a warning of ours (None: not a warning: an
    error, or ssh's own words)."""
    return line.removeprefix(WARNING) if line.startswith(WARNING) else None


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def read_reply(answer: Answer, ok: tuple[int, ...] = (0, 1)) -> Reply:
    """An apply's or diff's answer.  Exit 1 is apply's own success with a
    backend left out (its warning says so), not a failure."""
    err = _lines(answer.stderr)
    warnings = [w for line in err if (w := warning(line)) is not None]
    if answer.status in ok:
        return Reply(_lines(answer.stdout), warnings, "")
    said = [line.removeprefix(ERROR) for line in err if line.startswith(ERROR)]
    error = said[-1] if said else (err[-1] if err else f"exited with {answer.status}")
    return Reply(_lines(answer.stdout), warnings, error)


def version_problem(answer: Answer, ours: str) -> str:
    """Why a node whose `l4lb --version` answered this cannot be applied
    to ("" when it runs our version): a ring is byte-identical only when
    both ends fill it with the same code."""
    words = answer.stdout.split()
    if answer.status != 0 or len(words) != 2 or words[0] != "l4lb":
        said = _lines(answer.stderr) or _lines(answer.stdout) or [f"exit {answer.status}"]
        return f"its l4lb did not tell its version ({said[-1]}): set [ssh] command to it"
    theirs = words[1]
    if theirs != ours:
        return (
            f"it runs l4lb {theirs}, this is l4lb {ours}: only one version fills "
            f"rings alike; install {ours} there"
        )
    return ""
