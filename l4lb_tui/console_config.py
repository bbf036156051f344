"""The console's "save the running state as a config": the text `l4lb
export` prints, written as every file an operator names is (filewrite:
atomically, only over a regular file, through a symbolic link)."""

from __future__ import annotations

from pathlib import Path

from l4lb_tui import filewrite
from l4lb_tui.console_backend import ConsoleError


def save_config(path: Path, text: str) -> str:
    """Write `text` to `path`; what the console says of it."""
    try:
        target = filewrite.replace_text(path, text if text.endswith("\n") else text + "\n")
    except filewrite.WriteError as exc:
        raise ConsoleError(str(exc)) from None
    return (
        f"saved the running state as a config to {target}{filewrite.through_link(path, target)}"
        f" (l4lb apply -f {target} restores it)"
    )
