"""Prototype: the bpftool adapter's map I/O done with bpf(2) instead.

`SyscallBpftool` is a drop-in `Bpftool` for `Balancer(..., bpftool=...)`:
map dumps become BPF_MAP_LOOKUP_BATCH (one call per map, no process, no
JSON), `batch` becomes BPF_MAP_UPDATE_BATCH per map, and the program id and
XDP attachment come from bpf(2) and netlink.  Loading, attaching and pinning
still go through bpftool: they are rare, and bpftool's messages are good.

`l4lb bench control` times the product's adapter against this one; the
report proposes moving it into l4lb_tui/bpf.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from l4lb_tui.bench import bpfcall
from l4lb_tui.bpf import BpfError, Bpftool, MapEntry, XdpAttachment
from l4lb_tui.netlink import Netlink, NetlinkError


def tokens(cmd: str | Sequence[str]) -> list[str]:
    """A batch command as tokens: the balancer hands lines or token lists."""
    return cmd.split() if isinstance(cmd, str) else list(cmd)


def parse_update(cmd: str | Sequence[str]) -> tuple[str, bytes, bytes] | None:
    """(map, key, value) of a `map update pinned PIN|id ID key hex .. value hex ..`;
    the map as its pin, or as "id:ID"."""
    cmd = tokens(cmd)
    if len(cmd) < 8 or cmd[0] != "map" or cmd[1] != "update" or cmd[2] not in ("pinned", "id"):
        return None
    if cmd[4] != "key" or cmd[5] != "hex":
        return None
    try:
        at = cmd.index("value", 6)
        if cmd[at + 1] != "hex":
            return None
        # One C-level conversion per field: bpftool's hex tokens are two digits.
        where = cmd[3] if cmd[2] == "pinned" else f"id:{int(cmd[3])}"
        return where, bytes.fromhex("".join(cmd[6:at])), bytes.fromhex("".join(cmd[at + 2 :]))
    except (ValueError, IndexError):
        return None


class _Map:
    """An open map, by pin or "id:ID" (as parse_update names it); closed by `close`."""

    def __init__(self, pin: Path | str) -> None:
        where = str(pin)
        try:
            if where.startswith("id:"):
                self.fd = bpfcall.map_fd_by_id(int(where[3:]))
            else:
                self.fd = bpfcall.obj_get(pin)
        except OSError as exc:
            raise BpfError(str(exc)) from None
        self.info = bpfcall.map_info(self.fd)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> _Map:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyscallBpftool(Bpftool):
    """Bpftool with map reads and writes through bpf(2)."""

    def __init__(self, netns: str | None = None, binary: str = "bpftool") -> None:
        super().__init__(binary=binary, netns=netns)
        self._netlink = Netlink(netns=netns)

    # -- reads ------------------------------------------------------------------

    def map_dump(self, pin: Path) -> list[MapEntry]:
        with _Map(pin) as m:
            try:
                items = bpfcall.lookup_all(m.fd, m.info)
            except OSError as exc:
                raise BpfError(str(exc)) from None
            size = m.info.value_size
            if not m.info.percpu:
                return [MapEntry(k, v[:size]) for k, v in items]
            step = (size + 7) // 8 * 8
            offsets = range(0, bpfcall.possible_cpus() * step, step)
            return [MapEntry(k, b"", tuple([v[i : i + size] for i in offsets])) for k, v in items]

    def map_lookup(self, pin: Path, key: bytes) -> bytes | None:
        with _Map(pin) as m:
            try:
                raw = bpfcall.map_lookup(m.fd, key, m.info.slot_size)
            except OSError as exc:
                raise BpfError(str(exc)) from None
            return None if raw is None else raw[: m.info.value_size]

    def prog_show_pinned(self, pin: Path) -> dict[str, Any]:
        try:
            with bpfcall.opened(bpfcall.obj_get(pin)) as fd:
                info = bpfcall.prog_info(fd)
        except OSError as exc:
            raise BpfError(str(exc)) from None
        return {"id": info.prog_id, "name": info.name, "tag": info.tag}

    def map_show_pinned(self, pin: Path) -> dict[str, Any]:
        """The fields of `bpftool map show` the balancer reads."""
        with _Map(pin) as m:
            i = m.info
            return {
                "id": i.map_id,
                "type": i.type_name,
                "name": i.name,
                "bytes_key": i.key_size,
                "bytes_value": i.value_size,
                "max_entries": i.max_entries,
                "flags": i.flags,
            }

    def net_show(self, ifname: str) -> list[XdpAttachment]:
        try:
            link = self._netlink.link(ifname)
        except NetlinkError as exc:
            raise BpfError(str(exc)) from None
        if not link.xdp_prog_id:
            return []
        return [XdpAttachment(link.ifname, link.ifindex, link.xdp_mode, link.xdp_prog_id)]

    # -- writes -------------------------------------------------------------------

    def map_update(self, pin: Path, key: bytes, value: bytes) -> None:
        with _Map(pin) as m:
            try:
                bpfcall.map_update(m.fd, key, value)
            except OSError as exc:
                raise BpfError(str(exc)) from None

    def batch(self, commands: Iterable[str | Sequence[str]]) -> int:
        """The same writes as `bpftool batch`, in an order the data plane
        cannot tell apart: runs of updates to one map go in one syscall.

        Order matters only where it publishes: the balancer's batches write
        staging entries (backends, counters, idle ring) first and flip the
        service and config last.  The leading staging writes are grouped per
        map, the rest per consecutive run, so a flip never overtakes what it
        publishes.  Anything not a plain update goes to bpftool, in order.
        """
        cmds = [tokens(c) for c in commands]
        groups: list[tuple[str, list[tuple[bytes, bytes]]]] = []
        for cmd in cmds:
            parsed = parse_update(cmd)
            if parsed is None:
                self._flush(_merge_staging(groups, _map_name))
                groups = []
                super().batch([cmd])
                continue
            pin, key, value = parsed
            if groups and groups[-1][0] == pin:
                groups[-1][1].append((key, value))
            else:
                groups.append((pin, [(key, value)]))
        self._flush(_merge_staging(groups, _map_name))
        return len(cmds)

    @staticmethod
    def _flush(groups: list[tuple[str, list[tuple[bytes, bytes]]]]) -> None:
        for pin, items in groups:
            with _Map(pin) as m:
                try:
                    if m.info.percpu:
                        # One value for every CPU, as bpftool writes it.
                        step = (m.info.value_size + 7) // 8 * 8
                        n = bpfcall.possible_cpus()
                        items = [(k, v.ljust(step, b"\0") * n) for k, v in items]
                    bpfcall.update_many(m.fd, m.info, items)
                except OSError as exc:
                    raise BpfError(f"{pin}: {exc}") from None


def _map_name(where: str) -> str:
    """The map's name: its pin's, or the kernel's for one named by id."""
    if not where.startswith("id:"):
        return Path(where).name
    with _Map(where) as m:
        return m.info.name


def _merge_staging(
    groups: list[tuple[str, list[tuple[bytes, bytes]]]],
    name: Callable[[str], str] = lambda where: Path(where).name,
) -> list[tuple[str, list[tuple[bytes, bytes]]]]:
    """One group per staging map for the leading run of staging writes.

    The balancer interleaves them (backend, its counters, next backend, ...);
    none is visible to the data plane before the service entry flips, and
    order within each map is kept, so merging them changes nothing it can
    see.  From the first other write on, groups stay as they came.
    """
    staging: dict[str, list[tuple[bytes, bytes]]] = {}
    i = 0
    while i < len(groups) and name(groups[i][0]) in STAGING_MAPS:
        staging.setdefault(groups[i][0], []).extend(groups[i][1])
        i += 1
    return [*staging.items(), *groups[i:]]


# Maps the balancer writes before it publishes: nothing reads a new entry
# there until the service entry flips to it.
STAGING_MAPS = frozenset({"backends", "backend_stats", "rings"})
