"""Where the product finds its BPF objects and keeps its runtime files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

RUN_DIR = Path(os.environ.get("L4LB_RUN_DIR", "/run/l4lb"))
# The balancers' write locks: one place whatever L4LB_RUN_DIR a process was
# given, so that an operator's shell and a scale-out node's daemon (which
# has a run directory of its own) meet on the same lock.
LOCK_DIR = Path(os.environ.get("L4LB_LOCK_DIR", "/run/l4lb/locks"))
# Every balancer's pins, one directory each (see identity.py).  Tests that
# must see no one else's balancers point it elsewhere on the same bpffs.
PIN_ROOT = Path(os.environ.get("L4LB_PIN_ROOT", "/sys/fs/bpf/l4lb"))
BPFFS = Path("/sys/fs/bpf")
# What the commands say when bpffs is not where the pins are looked for.
NO_BPFFS = (
    f"bpffs is not mounted at {BPFFS}, so no balancer pins are "
    "visible (inside 'ip netns exec'? use 'l4lb --netns NAME ...')"
)


def pin_root_problem(root: Path, mounts: Sequence[tuple[str, str]]) -> str | None:
    """Why pins cannot be kept or found under `root` with these mounts
    ((mount point, type), as procfs.mounts lists them), or None.

    A root off bpffs would have bpftool mount a bpffs of its own at each pin
    directory (pins nobody else sees), and the bpffs root itself holds other
    tools' pins, which `detach --stale` would take for ours."""
    if not root.is_absolute() or ".." in root.parts:
        return f"L4LB_PIN_ROOT must be an absolute path, not {str(root)!r}"
    on = {Path(point): kind for point, kind in mounts}
    if on.get(root) == "bpf":
        return (
            f"L4LB_PIN_ROOT {root} is the root of a bpffs, which holds other tools' pins: "
            f"give l4lb a directory of its own (e.g. {BPFFS}/l4lb)"
        )
    holder = next((p for p in (root, *root.parents) if p in on), None)
    if holder is not None and on[holder] == "bpf":
        return None
    if root.is_relative_to(BPFFS):
        return NO_BPFFS
    return (
        f"L4LB_PIN_ROOT {root} is not on a bpffs: pins can only be kept there (e.g. under {BPFFS})"
    )


def bpf_dir() -> Path:
    """The built objects: $L4LB_BPF_DIR, else the checkout's bpf/ directory."""
    env = os.environ.get("L4LB_BPF_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "bpf"


def bpf_object(name: str) -> Path:
    return bpf_dir() / name
