"""What the balancer left of a lab on bpffs and in the run directory: its
pin dirs and lock files, found for `lab down` and `lab status`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from l4lb_tui import paths, pinning
from l4lb_tui.errors import BalancerError
from l4lb_tui.lab import names
from l4lb_tui.lab.errors import LabError
from l4lb_tui.locate import current_netns
from l4lb_tui.lock import lock_path
from l4lb_tui.netlink import Netlink
from l4lb_tui.netlink.namespaces import unfinished


def _cookie(ns: str) -> int:
    try:
        return current_netns(Netlink(netns=ns)).cookie
    except BalancerError as exc:
        raise LabError(f"namespace {ns}: {exc}") from None


def pin_dirs(prefix: str, namespaces: Sequence[str]) -> list[Path]:
    """The balancer's pin dirs of a lab: made in one of its namespaces (by
    cookie while they exist, by the name their record keeps once they are
    gone), or an older l4lb's, named after one of its links."""
    in_lab = names.namespace_re(prefix)
    # A namespace an interrupted `up` left half made holds no balancer.
    cookies = {_cookie(ns) for ns in namespaces if not unfinished(ns)}
    of_links = names.link_re(prefix)
    return sorted(
        p.path
        for p in pinning.listing()
        if (p.ident is not None and p.ident.netns_cookie in cookies)
        or (p.record is not None and in_lab.match(p.record.netns))
        or (p.legacy and of_links.match(p.ifname))
    )


def lock_files(prefix: str, dirs: Sequence[Path]) -> list[Path]:
    """The balancer's lock files of a lab's balancers: named after their pin
    dirs (an older l4lb's after the lab's links).  Nothing holds them once
    the namespaces' processes are gone."""
    pattern = names.link_re(prefix)
    legacy = (p for p in paths.RUN_DIR.glob(f"{prefix}-*.lock") if pattern.match(p.stem))
    ours = (lock_path(d.name) for d in dirs)
    return sorted({*legacy, *ours})
