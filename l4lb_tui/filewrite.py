"""Replacing a file an operator named, atomically: what the console's save
and `l4lb export -o FILE` write through.  One error type, `WriteError`.

The text goes to a temp file beside the target, which is then renamed over
it: a reader (or a crash) sees the old file or the new one, never half of
one.  Only a regular file (or none) is replaced: a rename over a named pipe,
a socket or a device would take it from whoever uses it, and opening one
would block or write into it, so those are refused with nothing written.  A
symbolic link is followed: the file it points to is replaced, the link
stays.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from l4lb_tui.destinations import file_kind


class WriteError(Exception):
    """A file could not be (or was not) written; one line naming it."""


def replace_text(path: Path, text: str) -> Path:
    """Make `text` the content of `path` (or of the file its symbolic link
    points to: the path returned)."""
    target = _target(path.expanduser())
    old = _existing(target)
    parent = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise WriteError(f"cannot write {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _same_owner_and_mode(tmp, old)
        # Made something else while this wrote?  Still not replaced.
        _existing(target)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise WriteError(f"cannot write {target}: {exc.strerror}") from None
    except WriteError:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def save_note(path: Path) -> str | None:
    """Why a save to `path` would be refused, as the save would say it, for
    a form to show before Enter; None when it would be written (the file
    replaced or made)."""
    path = path.expanduser()
    if path.is_dir():
        return "that is a directory: add a file name"
    try:
        target = _target(path)
        if _existing(target) is None and not target.parent.is_dir():
            return f"the directory {target.parent} does not exist: nothing can be saved there"
    except WriteError as exc:
        return str(exc)
    return None


def through_link(path: Path, target: Path) -> str:
    """What to add to 'saved to TARGET' when `path` was a symbolic link."""
    if target == path.expanduser():
        return ""
    return f" (where the symbolic link {path} points; the link is kept)"


def _target(path: Path) -> Path:
    """The file a write to `path` replaces: `path`, or where its symbolic
    links lead."""
    if not path.is_symlink():
        return path
    target = Path(os.path.realpath(path))
    if target.is_symlink():  # realpath stops in a loop
        raise WriteError(f"{path}: a symbolic link that leads nowhere (a loop): nothing was saved")
    return target


def _existing(target: Path) -> os.stat_result | None:
    """The file a write would replace (None: there is none); refused unless
    it is a regular file."""
    try:
        found = target.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WriteError(f"cannot write {target}: {exc.strerror}") from None
    kind = file_kind(found.st_mode)
    if kind is not None:
        raise WriteError(f"{target}: {kind}: nothing was saved")
    return found


def _same_owner_and_mode(tmp: str, old: os.stat_result | None) -> None:
    """The new file gets the old one's mode and, where this may, its owner."""
    os.chmod(tmp, stat.S_IMODE(old.st_mode) if old is not None else 0o644)
    if old is not None:
        with contextlib.suppress(PermissionError):
            os.chown(tmp, old.st_uid, old.st_gid)
