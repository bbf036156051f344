"""Whether this process may run the balancer: root is not enough when a
container or `setpriv` has dropped the capabilities it needs, and bpftool's
own "Operation not permitted" does not say which one is missing."""

from __future__ import annotations

import os
from pathlib import Path

CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
CAP_BPF = 39


def missing_capabilities(status: str | None = None) -> list[str]:
    """The capabilities the balancer needs that this process lacks.

    `status` is the text of /proc/self/status (read when None).  When it
    cannot be read, nothing is reported missing: the kernel still refuses.
    """
    try:
        text = Path("/proc/self/status").read_text() if status is None else status
        line = next(x for x in text.splitlines() if x.startswith("CapEff:"))
        effective = int(line.split()[1], 16)
    except (OSError, StopIteration, IndexError, ValueError):
        return []
    missing = []
    # CAP_SYS_ADMIN still stands in for CAP_BPF (kernels before 5.8 had only it).
    if not effective & (1 << CAP_BPF | 1 << CAP_SYS_ADMIN):
        missing.append("CAP_BPF")
    if not effective & (1 << CAP_NET_ADMIN):
        missing.append("CAP_NET_ADMIN")
    return missing


def privilege_problem(what: str, fix: str) -> str | None:
    """Why `what` cannot run here, with `fix` (the way to run it as root), or None."""
    if os.geteuid() != 0:
        return f"{what} needs root (CAP_BPF and CAP_NET_ADMIN): {fix}"
    missing = missing_capabilities()
    if missing:
        return (
            f"{what} needs {' and '.join(missing)}, which this process lacks although it "
            f"is root (dropped by a container or setpriv?): {fix}, with all capabilities"
        )
    return None
