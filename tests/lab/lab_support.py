"""Helpers shared by the lab tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Collection
from pathlib import Path

import pytest

from l4lb_tui.lab import labpins
from l4lb_tui.lab.names import PIN_ROOT, STATE_ROOT
from l4lb_tui.netlink import Netlink, namespaces
from l4lb_tui.paths import RUN_DIR


def require_root() -> None:
    # A lab test that cannot run is a failure, never a quiet skip.
    if os.geteuid() != 0:
        pytest.fail("lab tests build network namespaces and attach XDP: run them as root")


def unique_prefix() -> str:
    """`t` + 4 hex digits: unique per run, and far from the default `l4lb`."""
    return f"t{secrets.token_hex(2)}"


def namespace_inodes(prefix: str) -> set[tuple[int, int]]:
    """(dev, inode) of the lab's namespaces, to find processes left in them later."""
    found = set()
    for name in namespaces.listed():
        if name.startswith(f"{prefix}-"):
            st = os.stat(f"/run/netns/{name}")
            found.add((st.st_dev, st.st_ino))
    return found


def leftovers(prefix: str, inodes: Collection[tuple[int, int]] = ()) -> list[str]:
    """Everything with the prefix that still exists, described; empty when clean.

    `inodes` (from `namespace_inodes` before teardown) also catches a process
    still inside a namespace whose name is already gone.
    """
    found = [f"namespace {ns}" for ns in namespaces.listed() if ns.startswith(f"{prefix}-")]
    found += [f"link {li.ifname}" for li in Netlink().links() if li.ifname.startswith(f"{prefix}-")]
    # The lab's namespaces are gone: its balancers' pins by what they record.
    found += [f"pin dir {p}" for p in labpins.pin_dirs(prefix, [])]
    if PIN_ROOT.is_dir():
        found += [f"pin dir {p}" for p in PIN_ROOT.glob(f"{prefix}-*")]
    state = STATE_ROOT / f"lab-{prefix}"
    if state.exists():
        found.append(f"state dir {state}")
    found += [f"lock file {p}" for p in RUN_DIR.glob(f"{prefix}-*")]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            st = os.stat(proc / "ns" / "net")
        except OSError:
            continue  # gone meanwhile, or a zombie (no namespace any more)
        mine = prefix.encode()
        named = any(arg == mine or arg.startswith(mine + b"-") for arg in cmdline)
        if named or (st.st_dev, st.st_ino) in inodes:
            found.append(f"process {proc.name}: {b' '.join(cmdline).decode(errors='replace')}")
    return found
