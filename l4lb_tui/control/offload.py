"""Offload (Netronome NFP): what `attach --mode offload` can do so far.

Offload needs a device-bound program, loaded beside the running one in a
staging directory.  Nothing changes the running state until the kernel has
accepted the offloaded program, so a refusal leaves everything as it was.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import NoReturn

from l4lb_tui.bpftool import STAGING_ROOT, BpfError, Bpftool
from l4lb_tui.errors import BalancerError


def _clear(bpftool: Bpftool, staging: Path) -> None:
    bpftool.unpin_tree(staging)
    # Only when empty: another interface's attempt may be staged beside it.
    with contextlib.suppress(OSError):
        STAGING_ROOT.rmdir()


def refuse(bpftool: Bpftool, obj: Path, ifname: str, staging: Path) -> NoReturn:
    """Try the offloaded program on `ifname`; always raises BalancerError
    (the kernel's refusal, or: moving a running balancer is not built)."""
    bpftool.unpin_tree(staging)
    try:
        staging.mkdir(parents=True, exist_ok=True)
        bpftool.prog_load(obj, staging / "prog", staging / "maps", ifname)
        bpftool.net_attach("offload", staging / "prog", ifname)
    except BpfError as exc:
        _clear(bpftool, staging)
        # The verdict first: libbpf's lines follow, and a console shows the first.
        raise BalancerError(
            f"the kernel refused offload on {ifname}; the running state is unchanged: {exc.message}"
        ) from None
    # The kernel took the offloaded program (a NIC that can offload).  Moving
    # the running state into the NIC's maps is not built yet: take the new
    # program off again rather than leave a second, empty balancer serving.
    bpftool.net_detach("offload", ifname)  # pragma: no cover - NFP only
    _clear(bpftool, staging)  # pragma: no cover
    raise BalancerError(  # pragma: no cover
        f"{ifname} accepted offload, but moving a running balancer into the NIC "
        "is not supported yet; removed the offloaded program, the running state is "
        "unchanged"
    )
