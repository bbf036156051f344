"""The balancers' pins on bpffs: where they go, what they record, what is there.

    PIN_ROOT/ns<COOKIE>:if<IFINDEX>/prog       the XDP program
                                   /maps/      its maps
                                   /identity   its Record (a one-entry array)
                                   /link       its interface (a one-entry devmap)
                                   /guard/     a mode switch's guard, while one runs
    PIN_ROOT/<IFNAME>/                         an older l4lb's (one per name,
                                               dots as '~'): adopted or cleaned

Reads go through bpf(2), writes through bpftool, as everywhere else.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from l4lb_tui import abi, bpfsys
from l4lb_tui.bpftool import Bpftool
from l4lb_tui.identity import (
    RECORD_SIZE,
    BalancerId,
    Pinned,
    Record,
    legacy_dirname,
    legacy_ifname,
    parse_dirname,
)
from l4lb_tui.paths import PIN_ROOT

RECORD_PIN = "identity"
# A map name (15 characters at most), shown by `bpftool map`.
RECORD_MAP_NAME = "l4lb_identity"
# The interface itself, not its index: a devmap entry holds the link, and
# the kernel empties it when the link is deleted or leaves the namespace
# (NETDEV_UNREGISTER), so a new link given the same index is never taken
# for the old one.  The data plane never reads it.
LINK_PIN = "link"
LINK_MAP_NAME = "l4lb_link"


def pin_dir(ident: BalancerId) -> Path:
    return PIN_ROOT / ident.dirname


def legacy_dir(ifname: str) -> Path:
    return PIN_ROOT / legacy_dirname(ifname)


def holds_pins(path: Path) -> bool:
    """Whether a directory holds what an l4lb pins (its program or maps):
    an empty directory, or anyone else's, is not a balancer's, and removing
    "its" pins must never detach a balancer that runs."""
    if path.is_symlink() or not path.is_dir():
        return False
    return (path / "prog").exists() or (path / "maps").is_dir()


def has_legacy(ifname: str) -> bool:
    """Whether an older l4lb left pins for `ifname`."""
    return holds_pins(legacy_dir(ifname))


def read_record(path: Path) -> Record | None:
    """The record in a pin directory; None when it has none (or it cannot
    be read: an older l4lb's directory, or one half made)."""
    try:
        fd = bpfsys.obj_get(path / RECORD_PIN)
    except (bpfsys.BpfSysError, OSError):
        return None
    try:
        # Sized by the map itself: a lookup writes value_size bytes, and a
        # map of another size (another version's record) must not overrun.
        size = bpfsys.map_info(fd).value_size
        return Record.unpack(bpfsys.lookup(fd, abi.u32(0), size))
    except (bpfsys.BpfSysError, OSError):
        return None
    finally:
        os.close(fd)


def write_record(bpftool: Bpftool, path: Path, record: Record) -> None:
    pin = path / RECORD_PIN
    if not pin.exists():
        bpftool.map_create(pin, "array", 4, RECORD_SIZE, 1, RECORD_MAP_NAME)
    bpftool.map_update(pin, abi.u32(0), record.pack())


def write_link(bpftool: Bpftool, path: Path, ifindex: int) -> None:
    """Note the link with index `ifindex` of the namespace `bpftool` runs
    in (the kernel looks the index up there) as this balancer's."""
    pin = path / LINK_PIN
    if not pin.exists():
        bpftool.map_create(pin, "devmap", 4, 4, 1, LINK_MAP_NAME)
    bpftool.map_update(pin, abi.u32(0), abi.u32(ifindex))


def holds_link(path: Path) -> bool | None:
    """Whether the link the pins were made for is still where it was (None:
    they note none: made by an l4lb before the note, or half made)."""
    try:
        fd = bpfsys.obj_get(path / LINK_PIN)
    except (bpfsys.BpfSysError, OSError):
        return None
    try:
        bpfsys.lookup(fd, abi.u32(0), 4)
        return True
    except bpfsys.BpfSysError as exc:
        return False if exc.errno == errno.ENOENT else None
    finally:
        os.close(fd)


def prog_id(path: Path) -> int | None:
    """The id of the program pinned in a balancer's directory (None: none)."""
    try:
        fd = bpfsys.obj_get(path / "prog")
    except (bpfsys.BpfSysError, OSError):
        return None
    try:
        return bpfsys.prog_info(fd).prog_id
    except bpfsys.BpfSysError:
        return None
    finally:
        os.close(fd)


def found(path: Path) -> Pinned | None:
    """What a directory under PIN_ROOT is (None: not a balancer's)."""
    ident = parse_dirname(path.name)
    if ident is None and legacy_ifname(path.name) is None:
        return None
    if not path.is_dir() or path.is_symlink():
        return None
    if ident is None and not holds_pins(path):
        return None
    record = read_record(path) if ident is not None else None
    return Pinned(path, ident, record, prog_id(path), holds_link(path))


def listing() -> list[Pinned]:
    """Every balancer's pin directory, in both layouts."""
    try:
        entries = sorted(PIN_ROOT.iterdir())
    except OSError:
        return []
    return [p for p in map(found, entries) if p is not None]


def _legacy_dirs() -> list[Path]:
    try:
        entries = sorted(PIN_ROOT.iterdir())
    except OSError:
        return []
    return [
        p
        for p in entries
        if parse_dirname(p.name) is None and legacy_ifname(p.name) and holds_pins(p)
    ]


def legacy_programs() -> dict[int, Path]:
    """Older l4lb directories by the id of their program."""
    found = ((prog_id(p), p) for p in _legacy_dirs())
    return {prog: path for prog, path in found if prog is not None}


def legacy_running(prog: int) -> Path | None:
    """An older l4lb's directory whose program has id `prog` (whatever the
    interface is called now: it may have been renamed since)."""
    return next((p for p in _legacy_dirs() if prog_id(p) == prog), None)


def with_program(prog: int) -> Pinned | None:
    """The balancer (of either layout) whose pinned program has id `prog`."""
    return next((p for p in listing() if p.prog_id == prog), None)


def in_namespace(cookie: int) -> list[Pinned]:
    """The balancers made in one namespace."""
    return [p for p in listing() if p.ident is not None and p.ident.netns_cookie == cookie]


def recorded_in(netns: str) -> list[Pinned]:
    """The balancers whose record names the namespace they were made in:
    found so also once that namespace is gone."""
    return [p for p in listing() if p.record is not None and p.record.netns == netns]


def is_l4lb_program(prog: int) -> bool:
    """Whether program `prog` is an l4lb balancer's (its name, and its maps
    by name), pinned or not: a bpffs remounted empty leaves one running
    with no pins."""
    try:
        fd = bpfsys.prog_fd_by_id(prog)
    except (bpfsys.BpfSysError, OSError):
        return False
    try:
        info = bpfsys.prog_info(fd)
    except bpfsys.BpfSysError:
        return False
    finally:
        os.close(fd)
    return info.name == "l4lb" and "svc_live" in _map_names(info.map_ids)


def _map_names(ids: tuple[int, ...]) -> set[str]:
    names = set()
    for map_id in ids:
        try:
            fd = bpfsys.map_fd_by_id(map_id)
        except (bpfsys.BpfSysError, OSError):
            continue
        try:
            names.add(bpfsys.map_info(fd).name)
        except bpfsys.BpfSysError:
            pass
        finally:
            os.close(fd)
    return names
