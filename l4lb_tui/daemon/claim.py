"""One daemon per balancer: a daemon holds, for as long as it manages a
balancer, an flock on `<identity>.daemon` in paths.LOCK_DIR (one directory
for every process, whatever its L4LB_RUN_DIR), the file naming its PID and
run directory.

Two daemons on one balancer (a node's own and one started with another run
directory) fought over it: both wrote drains into its maps and the second's
stop left the first's health checks wrong.  The kernel drops the flock when
its holder dies, however it dies, so a killed daemon never blocks the next.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from l4lb_tui import runfile
from l4lb_tui.paths import LOCK_DIR, RUN_DIR


class ClaimedError(Exception):
    """Another live daemon manages this balancer (or its claim cannot be had)."""


def claim_path(ident: str) -> Path:
    return LOCK_DIR / f"{ident}.daemon"


def _holder(text: str) -> tuple[str, str]:
    """The PID and run directory the holder wrote ("?" where missing)."""
    lines = text.splitlines()
    pid = lines[0].strip() if lines and lines[0].strip().isdigit() else "?"
    run_dir = lines[1].strip() if len(lines) > 1 and lines[1].strip() else "?"
    return pid, run_dir


def _take(ident: str, shown: str) -> int:
    """The claim's descriptor, locked; ClaimedError if another daemon has it."""
    path = claim_path(ident)
    try:
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        return runfile.hold(path, f"{os.getpid()}\n{RUN_DIR}\n")
    except runfile.Held as held:
        pid, run_dir = _holder(held.holder)
        raise ClaimedError(
            f"{shown} is managed by another daemon, PID {pid} (run directory {run_dir}): "
            "stop it first, or reload that one"
        ) from None
    except OSError as exc:
        raise ClaimedError(f"cannot claim {shown}: {path}: {exc.strerror}") from None
    except runfile.NotRegular as exc:
        raise ClaimedError(
            f"cannot claim {shown}: {path} is {exc.why}, which l4lb never makes there: remove it"
        ) from None


def any_live() -> bool:
    """Whether any daemon, anywhere, manages a balancer now."""
    return LOCK_DIR.is_dir() and any(runfile.held(p) for p in LOCK_DIR.glob("*.daemon"))


def _release(ident: str, fd: int) -> None:
    runfile.let_go(fd, claim_path(ident))


@dataclass
class Claims:
    """The balancers this daemon manages, by identity, each with its claim held."""

    held: dict[str, int] = field(default_factory=dict)

    def take(self, wanted: dict[str, str]) -> None:
        """Claim every balancer of `wanted` (identity: how it is shown) not
        claimed yet; on a refusal none of the new ones is kept."""
        taken: list[str] = []
        try:
            for ident, shown in wanted.items():
                if ident not in self.held:
                    self.held[ident] = _take(ident, shown)
                    taken.append(ident)
        except ClaimedError:
            for ident in taken:
                _release(ident, self.held.pop(ident))
            raise

    def keep_only(self, idents: set[str]) -> None:
        """Let go of the balancers no longer managed."""
        for ident in [i for i in self.held if i not in idents]:
            _release(ident, self.held.pop(ident))

    def release_all(self) -> None:
        self.keep_only(set())
