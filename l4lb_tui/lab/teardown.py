"""What `lab down` removes besides namespaces and links: the processes in
them, the balancer's pins, and the lab's state directory."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from l4lb_tui import procfs
from l4lb_tui.bpftool import BpfError, Bpftool
from l4lb_tui.lab.errors import LabError

KILL_GRACE = 2.0


def stop_processes(pids: dict[str, list[int]]) -> None:
    """SIGTERM, then SIGKILL what is left after a grace period.

    Every process must be gone before its namespace is removed: a namespace
    lives on, invisible, as long as a process is in it.
    """
    victims = [pid for group in pids.values() for pid in group if pid != os.getpid()]
    left = procfs.stop(victims, KILL_GRACE)
    if left:
        raise LabError(f"processes still alive after SIGKILL: {left}")


def unpin(pin_dirs: Sequence[Path]) -> None:
    for pin_dir in pin_dirs:
        try:
            Bpftool.unpin_tree(pin_dir)
        except BpfError as exc:
            raise LabError(str(exc), tool="rm") from exc


def remove_state(path: Path) -> None:
    """The lab's state directory, and the root above it once empty."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise LabError(f"remove {path}: {exc.strerror}", tool="rm") from exc
    # Not empty: another lab, or the balancer, still uses it.
    with contextlib.suppress(OSError):
        path.parent.rmdir()
