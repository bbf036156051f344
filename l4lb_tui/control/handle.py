"""A handle on one located balancer: where it is, its pins, its link and the
adapters that reach them; the reads and the write lock every part of the
control plane goes through.

It holds what it was found by (identity, pin paths, the interface's current
name, followed by its index) and whether its map layouts were checked;
everything else (maps, program, link) is read back when asked for.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterator
from pathlib import Path

from l4lb_tui import abi, abi6, bpfsys, pinning
from l4lb_tui.bpftool import Bpftool
from l4lb_tui.errors import BalancerError
from l4lb_tui.identity import Netns
from l4lb_tui.locate import (
    Location,
    left_by_another,
    moved_to,
    no_balancer,
    note_name,
    require_pin_root,
    unpinned,
)
from l4lb_tui.lock import LockedError, interface_lock, live_holder
from l4lb_tui.model import XdpAttachment
from l4lb_tui.netlink import LinkInfo, Netlink
from l4lb_tui.paths import bpf_object


class Handle:
    """One balancer as `where` found it; `ifname` is the interface's current
    name whatever it was renamed to."""

    def __init__(self, where: Location, bpftool: Bpftool, netlink: Netlink, wait: float) -> None:
        self.wait = wait
        self._layout_ok = False
        self._pins_ok = False
        self.bpftool = bpftool
        self.netlink = netlink
        self.where = where
        self.ifname = self.where.ifname
        self.pin_dir = self.where.pin_dir
        self.prog_pin = self.pin_dir / "prog"
        self.maps_dir = self.pin_dir / "maps"

    def map_pin(self, name: str) -> Path:
        return self.maps_dir / name

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """The interface's write lock, for every change to the maps or link."""
        try:
            lock = interface_lock(self.pin_dir.name, self.wait, self.ifname)
            fd = lock.__enter__()
        except LockedError as exc:
            raise BalancerError(str(exc)) from None
        except OSError as exc:
            raise BalancerError(f"cannot take the lock of {self.ifname}: {exc.strerror}") from None
        self.bpftool.keep_fds = (fd,)
        try:
            self._note_name()
            yield
        finally:
            self.bpftool.keep_fds = ()
            lock.__exit__(None, None, None)

    # -- discovery --------------------------------------------------------

    def is_loaded(self) -> bool:
        if not self.prog_pin.exists():
            return False
        # Pins an earlier link with this index left are not this balancer.
        if pinning.holds_link(self.pin_dir) is not False:
            return True
        link = self.netlink.by_index(self.where.ident.ifindex)
        return link is None or not left_by_another(self.where, link)

    def pins_left_by_another(self) -> bool:
        """Pins are there, but an earlier link with this index left them."""
        return self.prog_pin.exists() and not self.is_loaded()

    def require_pins(self) -> None:
        """Refuse where pins cannot be seen or kept (once per handle)."""
        if not self._pins_ok:
            require_pin_root()
            self._pins_ok = True

    def require_loaded(self) -> None:
        self.require_pins()
        if self.is_loaded():
            self.check_layout()
            return
        link = self.link()
        raise BalancerError(unpinned(self.where, link.xdp_prog_id or 0) or no_balancer(self.where))

    def check_layout(self) -> None:
        """Refuse pins made by a build with other map layouts (an upgrade while
        an older balancer runs) instead of misreading their bytes."""
        if self._layout_ok:
            return
        for name, size in abi.VALUE_SIZES.items():
            # A read through bpf(2): a bpftool process per map cost every new
            # Balancer (each command, each of the console's edits) four.
            try:
                fd = bpfsys.obj_get(self.map_pin(name))
                try:
                    found = bpfsys.map_info(fd).value_size
                finally:
                    os.close(fd)
            except (bpfsys.BpfSysError, OSError) as exc:
                self._maybe_being_attached()
                detach = self.where.netns.command(f"l4lb detach -i {shlex.quote(self.ifname)}")
                raise BalancerError(
                    f"cannot read map {name} of {self.ifname}: {exc} "
                    f"(half-made pins? run '{detach}' and attach again)"
                ) from None
            if found != size:
                raise BalancerError(
                    other_version(
                        self.ifname,
                        self.where.netns,
                        f"map {name} holds {found}-byte values, this version uses {size}",
                    )
                )
        version = self.config().version
        if version == 0:
            # No config was ever written: an attach stopped between its
            # program's load and its config, not another version's layout,
            # or one still at work between the two.
            self._maybe_being_attached()
            again = self.where.netns.command(f"l4lb detach -i {shlex.quote(self.ifname)}")
            raise BalancerError(
                f"the pins of {self.ifname} are half made (an attach was stopped before it "
                f"wrote the config): run '{again}' and attach again"
            )
        if version != abi.LAYOUT_VERSION:
            raise BalancerError(
                other_version(
                    self.ifname,
                    self.where.netns,
                    f"map layout {version}, this version uses {abi.LAYOUT_VERSION}",
                )
            )
        self._layout_ok = True

    def _maybe_being_attached(self) -> None:
        """Pins that look half made while a live writer holds the lock are an
        attach under way, not a wreck: say so rather than "half made"."""
        pid = live_holder(self.pin_dir.name)
        if pid is not None:
            raise BalancerError(
                f"{self.ifname} is being attached by PID {pid} (try again in a moment)"
            )

    def prog_id(self) -> int:
        return int(self.bpftool.prog_show_pinned(self.prog_pin)["id"])

    def moved_note(self) -> str | None:
        """Where the link went with its program, if it moved to another
        namespace (None: it did not, or it is gone).  A survey of every
        namespace: for a command that met the link gone, not for a poll."""
        pinned = pinning.found(self.pin_dir)
        return moved_to(pinned) if pinned is not None else None

    def attachment(self) -> XdpAttachment | None:
        link = self.link()
        if not link.xdp_prog_id:
            return None
        return XdpAttachment(link.ifname, link.ifindex, link.xdp_mode, link.xdp_prog_id)

    def link(self) -> LinkInfo:
        """The interface by its index: a rename is followed (and `ifname`
        is its name from now on)."""
        link = self.netlink.by_index(self.where.ident.ifindex)
        if link is None:
            raise BalancerError(
                f"interface {self.ifname} no longer exists in {self.where.netns.place}"
            )
        self.ifname = link.ifname
        return link

    def _note_name(self) -> None:
        """Keep the pins' record of the name current (how `l4lb detach -i
        NAME` finds them once the interface is gone)."""
        if self.is_loaded() and self.link_exists():
            note_name(self.where, self.link(), self.bpftool)

    def link_exists(self) -> bool:
        name = self.netlink.name_of(self.where.ident.ifindex)
        self.ifname = name or self.ifname
        return name is not None

    def bpf_object(self, name: str) -> Path:
        path = bpf_object(name)
        if not path.exists():
            raise BalancerError(
                f"BPF object {path} is not built: run 'make -C {path.parent}' "
                "(it needs clang: scripts/setup.sh installs it)"
            )
        return path

    # -- reading the maps ---------------------------------------------------

    def config(self) -> abi.Config:
        dump = self.read_array("config")
        if not dump.count:
            raise BalancerError(f"config map of {self.ifname} is unreadable")
        return abi.Config.unpack(dump.raw[: dump.value_size])

    def source6(self) -> str | None:
        """The outer IPv6 source of ip6ip6, None while unset (or with no
        IPv6 path at all: the offload build has no config6)."""
        if not self.map_pin("config6").exists():
            return None
        raw = self.read_array("config6").raw[:16]
        return abi6.ip6_text(raw) if any(raw) else None

    def read_array(self, name: str) -> bpfsys.ArrayDump:
        with self.reading(name):
            return bpfsys.read_array(self.map_pin(name))

    @contextlib.contextmanager
    def reading(self, name: str) -> Iterator[None]:
        # Maps are read with BPF_MAP_LOOKUP_BATCH, not bpftool: its JSON for
        # 4096 per-CPU entries costs tens of ms of parsing per poll, and a
        # process per small map is most of what a one-backend edit costs.
        try:
            yield
        except (bpfsys.BpfSysError, OSError) as exc:
            raise BalancerError(
                f"cannot read map {name} of {self.ifname}: {exc} "
                "(was the balancer detached meanwhile?)"
            ) from None


def other_version(ifname: str, netns: Netns, layout: str) -> str:
    """The refusal of pins another build made.  The remedy is typed where the
    balancer is (its --netns: run without it, detach finds nothing, or the
    host's link of that name), with what it costs, since it stops balancing."""
    detach = netns.command(f"l4lb detach -i {shlex.quote(ifname)}")
    return (
        f"the balancer on {ifname} was loaded by another version of l4lb ({layout}): "
        f"run '{detach}', then attach and load it again (l4lb map or apply); it keeps "
        "serving as loaded until the detach, and from the detach until the load its "
        "traffic is not balanced"
    )
