"""Where the product finds its BPF objects and keeps its runtime files."""

from __future__ import annotations

import os
from pathlib import Path

RUN_DIR = Path(os.environ.get("L4LB_RUN_DIR", "/run/l4lb"))


def bpf_dir() -> Path:
    """The built objects: $L4LB_BPF_DIR, else the checkout's bpf/ directory."""
    env = os.environ.get("L4LB_BPF_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "bpf"


def bpf_object(name: str) -> Path:
    return bpf_dir() / name
