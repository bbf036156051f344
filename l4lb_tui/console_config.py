"""The console's "save the running state as a config": the text `l4lb
export` prints, written atomically, and never over anything but a regular
file (a device, a FIFO or a symlink an operator did not mean is refused)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from l4lb_tui.console_backend import ConsoleError


def save_config(path: Path, text: str) -> str:
    """Write `text` to `path` (a temp file beside it, then a rename)."""
    path = path.expanduser()
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        found = None
    except OSError as exc:
        raise ConsoleError(f"cannot write {path}: {exc.strerror}") from None
    if found is not None and not stat.S_ISREG(found.st_mode):
        raise ConsoleError(f"{path}: not a regular file; refusing to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    mode = stat.S_IMODE(found.st_mode) if found is not None else 0o644
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise ConsoleError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConsoleError(f"cannot write {path}: {exc.strerror}") from None
    return f"saved the running state as a config to {path} (l4lb apply -f {path} restores it)"
