"""The bpf(2) calls the benchmarks make directly: no process per call.

Program info (sizes, run_time_ns and run_cnt), element and batch map writes,
and BPF_ENABLE_STATS.  The call itself, object lookup, map info, batch reads
and BPF_PROG_TEST_RUN are l4lb_tui.bpfsys's; this module keeps its OSError
(with errno) for the benchmarks.  x86-64 and arm64 only (little-endian,
known syscall numbers), as bpfsys.
"""

from __future__ import annotations

import array
import ctypes
import errno
import os
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import bpfsys

MAP_LOOKUP_ELEM = 1
MAP_UPDATE_ELEM = 2
PROG_GET_FD_BY_ID = 13
MAP_GET_FD_BY_ID = 14
OBJ_GET_INFO_BY_FD = bpfsys.BPF_OBJ_GET_INFO_BY_FD
MAP_UPDATE_BATCH = 26
ENABLE_STATS = 32
STATS_RUN_TIME = 0

# The call itself, object lookup, map info and batch reads are the product's
# (bpfsys); this module adds what only the benchmarks need.
MAP_TYPES = bpfsys.MAP_TYPES
PERCPU_TYPES = bpfsys.PERCPU_TYPES
MapInfo = bpfsys.MapInfo
possible_cpus = bpfsys.possible_cpus


class BpfCallError(OSError):
    """A bpf(2) call failed; errno is kept so callers can tell ENOENT apart."""


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except bpfsys.BpfSysError as exc:
        raise BpfCallError(exc.errno or errno.ENOSYS, str(exc)) from None


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_uint8], what: str) -> int:
    with _errors():
        return bpfsys.call(cmd, attr, what)


_attr = bpfsys.new_attr


# -- objects ------------------------------------------------------------------


def obj_get(pin: Path | str) -> int:
    with _errors():
        return bpfsys.obj_get(pin)


def prog_fd_by_id(prog_id: int) -> int:
    attr = _attr()
    struct.pack_into("I", attr, 0, prog_id)
    return _bpf(PROG_GET_FD_BY_ID, attr, f"prog id {prog_id}")


def map_fd_by_id(map_id: int) -> int:
    attr = _attr()
    struct.pack_into("I", attr, 0, map_id)
    return _bpf(MAP_GET_FD_BY_ID, attr, f"map id {map_id}")


@contextmanager
def opened(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def _info(fd: int, size: int, what: str) -> bytearray:
    buf = (ctypes.c_uint8 * size)()
    attr = _attr()
    struct.pack_into("IIQ", attr, 0, fd, size, ctypes.addressof(buf))
    _bpf(OBJ_GET_INFO_BY_FD, attr, what)
    return bytearray(buf)


@dataclass(frozen=True, slots=True)
class ProgInfo:
    prog_id: int
    name: str
    tag: str
    jited_len: int
    xlated_len: int
    map_ids: tuple[int, ...]
    run_time_ns: int
    run_cnt: int
    verified_insns: int

    @property
    def xlated_insns(self) -> int:
        return self.xlated_len // 8


# Offsets in struct bpf_prog_info (uapi/linux/bpf.h).
_PI_SIZE = 232
_PI_NR_MAP_IDS = 52
_PI_MAP_IDS = 56
_PI_RUN_TIME = 192
_PI_VERIFIED = 216


def prog_info(fd: int) -> ProgInfo:
    raw = _info(fd, _PI_SIZE, "prog info")
    nr_maps = struct.unpack_from("I", raw, _PI_NR_MAP_IDS)[0]
    map_ids: tuple[int, ...] = ()
    if nr_maps:
        # Second call: the kernel fills map ids only into a buffer we pass.
        ids = (ctypes.c_uint32 * nr_maps)()
        buf = (ctypes.c_uint8 * _PI_SIZE)()
        struct.pack_into("I", buf, _PI_NR_MAP_IDS, nr_maps)
        struct.pack_into("Q", buf, _PI_MAP_IDS, ctypes.addressof(ids))
        attr = _attr()
        struct.pack_into("IIQ", attr, 0, fd, _PI_SIZE, ctypes.addressof(buf))
        _bpf(OBJ_GET_INFO_BY_FD, attr, "prog map ids")
        map_ids = tuple(int(i) for i in ids)
    _type, prog_id = struct.unpack_from("II", raw, 0)
    jited, xlated = struct.unpack_from("II", raw, 16)
    run_time, run_cnt = struct.unpack_from("QQ", raw, _PI_RUN_TIME)
    return ProgInfo(
        prog_id=prog_id,
        name=bytes(raw[64:80]).split(b"\0", 1)[0].decode(),
        tag=bytes(raw[8:16]).hex(),
        jited_len=jited,
        xlated_len=xlated,
        map_ids=map_ids,
        run_time_ns=run_time,
        run_cnt=run_cnt,
        verified_insns=struct.unpack_from("I", raw, _PI_VERIFIED)[0],
    )


def map_info(fd: int) -> MapInfo:
    with _errors():
        return bpfsys.map_info(fd)


# -- elements -------------------------------------------------------------------


def map_update(fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(value, len(value))
    attr = _attr()
    struct.pack_into("IIQQQ", attr, 0, fd, 0, ctypes.addressof(k), ctypes.addressof(v), flags)
    _bpf(MAP_UPDATE_ELEM, attr, "map update")


def map_lookup(fd: int, key: bytes, size: int) -> bytes | None:
    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(size)
    attr = _attr()
    struct.pack_into("IIQQQ", attr, 0, fd, 0, ctypes.addressof(k), ctypes.addressof(v), 0)
    try:
        _bpf(MAP_LOOKUP_ELEM, attr, "map lookup")
    except BpfCallError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    return v.raw


def lookup_all(fd: int, info: MapInfo) -> list[tuple[bytes, bytes]]:
    """Every element, with BPF_MAP_LOOKUP_BATCH (one call for a whole array).

    Per-CPU values come back as one buffer of all CPUs' values, each rounded
    up to 8 bytes.
    """
    out: list[tuple[bytes, bytes]] = []
    chunk = max(1, min(info.max_entries, 8192))
    ks, vs = info.key_size, info.slot_size
    with _errors():
        for kraw, vraw, count in bpfsys.lookup_batches(fd, info, chunk, "map lookup batch"):
            out.extend(
                zip(
                    [kraw[i : i + ks] for i in range(0, count * ks, ks)],
                    [vraw[i : i + vs] for i in range(0, count * vs, vs)],
                    strict=True,
                )
            )
    return out


def update_many(fd: int, info: MapInfo, items: Sequence[tuple[bytes, bytes]]) -> None:
    """BPF_MAP_UPDATE_BATCH: all items in one call, in order."""
    if items:
        update_raw(
            fd, info, b"".join(k for k, _ in items), b"".join(v for _, v in items), len(items)
        )


def update_raw(fd: int, info: MapInfo, keys: bytes, values: bytes, count: int) -> None:
    """BPF_MAP_UPDATE_BATCH from packed key and value buffers."""
    if len(keys) != count * info.key_size or len(values) != count * info.slot_size:
        raise ValueError(f"batch of {count}: buffer sizes do not match map {info.name}")
    kbuf = ctypes.create_string_buffer(keys, len(keys))
    vbuf = ctypes.create_string_buffer(values, len(values))
    attr = _attr()
    struct.pack_into(
        "QQQQIIQQ", attr, 0, 0, 0, ctypes.addressof(kbuf), ctypes.addressof(vbuf), count, fd, 0, 0
    )
    _bpf(MAP_UPDATE_BATCH, attr, f"map update batch ({info.name})")
    done = struct.unpack_from("I", attr, 32)[0]
    if done != count:
        raise BpfCallError(errno.EIO, f"map update batch ({info.name}): {done}/{count}")


def fill_array(fd: int, info: MapInfo, value: bytes, step: int = 1 << 16) -> None:
    """Write `value` into every slot of an array map (e.g. empty a flow table)."""
    if len(value) != info.slot_size:
        raise ValueError(f"value of {len(value)} bytes for map {info.name}")
    values = value * step
    for start in range(0, info.max_entries, step):
        n = min(step, info.max_entries - start)
        keys = array.array("I", range(start, start + n)).tobytes()
        update_raw(fd, info, keys, values[: n * len(value)], n)


def enable_stats() -> int:
    """BPF_ENABLE_STATS: run_time_ns/run_cnt counting while the fd is open."""
    attr = _attr()
    struct.pack_into("I", attr, 0, STATS_RUN_TIME)
    return _bpf(ENABLE_STATS, attr, "enable stats")
