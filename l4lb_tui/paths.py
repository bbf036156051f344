"""Where the product finds its BPF objects and keeps its runtime files."""

from __future__ import annotations

import os
from pathlib import Path

RUN_DIR = Path(os.environ.get("L4LB_RUN_DIR", "/run/l4lb"))
# Every balancer's pins, one directory each (see identity.py).  Tests that
# must see no one else's balancers point it elsewhere on the same bpffs.
PIN_ROOT = Path(os.environ.get("L4LB_PIN_ROOT", "/sys/fs/bpf/l4lb"))


def bpf_dir() -> Path:
    """The built objects: $L4LB_BPF_DIR, else the checkout's bpf/ directory."""
    env = os.environ.get("L4LB_BPF_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "bpf"


def bpf_object(name: str) -> Path:
    return bpf_dir() / name
