"""The bpf(2) calls the benchmarks make directly: no process per call.

Object info (program sizes, run_time_ns and run_cnt, map types), element and
batch map access, and BPF_ENABLE_STATS.  BPF_PROG_TEST_RUN itself is
l4lb_tui.bpfsys's.  x86-64 and arm64 only (little-endian, known syscall
numbers), as bpfsys.
"""

from __future__ import annotations

import array
import ctypes
import ctypes.util
import errno
import os
import platform
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from l4lb_tui import bpfsys

_SYS_BPF = {"x86_64": 321, "aarch64": 280}
_ATTR_SIZE = 128

MAP_LOOKUP_ELEM = 1
MAP_UPDATE_ELEM = 2
OBJ_GET = 7
PROG_GET_FD_BY_ID = 13
MAP_GET_FD_BY_ID = 14
OBJ_GET_INFO_BY_FD = 15
MAP_LOOKUP_BATCH = 24
MAP_UPDATE_BATCH = 26
ENABLE_STATS = 32
STATS_RUN_TIME = 0

# enum bpf_map_type, the ones the product uses
MAP_TYPES = {
    1: "hash",
    2: "array",
    3: "prog_array",
    5: "percpu_hash",
    6: "percpu_array",
    9: "lru_hash",
    10: "lru_percpu_hash",
}
PERCPU_TYPES = {5, 6, 10}


class BpfCallError(OSError):
    """A bpf(2) call failed; errno is kept so callers can tell ENOENT apart."""


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_uint8], what: str) -> int:
    nr = _SYS_BPF.get(platform.machine())
    if nr is None:
        raise BpfCallError(errno.ENOSYS, f"bpf(2) syscall number unknown on {platform.machine()}")
    ret = int(_libc.syscall(nr, cmd, ctypes.byref(attr), ctypes.sizeof(attr)))
    if ret < 0:
        err = ctypes.get_errno()
        raise BpfCallError(err, f"{what}: {os.strerror(err)}")
    return ret


def _attr() -> ctypes.Array[ctypes.c_uint8]:
    return (ctypes.c_uint8 * _ATTR_SIZE)()


# Per-CPU map values come one per *possible* CPU, not per online one.
possible_cpus = cache(bpfsys.possible_cpus)


# -- objects ------------------------------------------------------------------


def obj_get(pin: Path | str) -> int:
    path = ctypes.create_string_buffer(os.fsencode(str(pin)))
    attr = _attr()
    struct.pack_into("Q", attr, 0, ctypes.addressof(path))
    return _bpf(OBJ_GET, attr, f"bpf obj get {pin}")


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


@dataclass(frozen=True, slots=True)
class MapInfo:
    map_id: int
    type: int
    name: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int

    @property
    def type_name(self) -> str:
        return MAP_TYPES.get(self.type, f"type {self.type}")

    @property
    def percpu(self) -> bool:
        return self.type in PERCPU_TYPES

    @property
    def slot_size(self) -> int:
        """Bytes one element takes in a lookup buffer (per-CPU: all CPUs)."""
        if self.percpu:
            return ((self.value_size + 7) // 8 * 8) * possible_cpus()
        return self.value_size


def map_info(fd: int) -> MapInfo:
    raw = _info(fd, 88, "map info")
    mtype, map_id, ksize, vsize, max_entries, flags = struct.unpack_from("6I", raw, 0)
    return MapInfo(
        map_id=map_id,
        type=mtype,
        name=bytes(raw[24:40]).split(b"\0", 1)[0].decode(),
        key_size=ksize,
        value_size=vsize,
        max_entries=max_entries,
        flags=flags,
    )


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
    keys = ctypes.create_string_buffer(chunk * info.key_size)
    vals = ctypes.create_string_buffer(chunk * info.slot_size)
    # Hash maps hand back an opaque bucket cursor; 8 bytes holds either kind.
    cursor_in = ctypes.create_string_buffer(8)
    cursor_out = ctypes.create_string_buffer(8)
    first = True
    while True:
        attr = _attr()
        struct.pack_into(
            "QQQQIIQQ",
            attr,
            0,
            0 if first else ctypes.addressof(cursor_in),
            ctypes.addressof(cursor_out),
            ctypes.addressof(keys),
            ctypes.addressof(vals),
            chunk,
            fd,
            0,
            0,
        )
        done = False
        try:
            _bpf(MAP_LOOKUP_BATCH, attr, "map lookup batch")
        except BpfCallError as exc:
            if exc.errno != errno.ENOENT:
                raise
            done = True
        count = struct.unpack_from("I", attr, 32)[0]
        kraw, vraw = keys.raw, vals.raw
        ks, vs = info.key_size, info.slot_size
        out.extend(
            zip(
                [kraw[i : i + ks] for i in range(0, count * ks, ks)],
                [vraw[i : i + vs] for i in range(0, count * vs, vs)],
                strict=True,
            )
        )
        if done or count == 0:
            return out
        ctypes.memmove(cursor_in, cursor_out, 8)
        first = False


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
