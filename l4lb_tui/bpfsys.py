"""The bpf(2) adapter: the calls the product, the lab and the benchmarks make
to the kernel without bpftool.  Every failure is a BpfSysError.

`bpftool prog run` costs a process per call and cannot set the live-frames
flag; the benchmarks and the packet tests need both (BPF_PROG_TEST_RUN).
Map reads are here (BPF_MAP_LOOKUP_BATCH, object info): a poll reads 4096
per-CPU counters, which bpftool hands over as megabytes of JSON.  The
product writes through bpftool (l4lb_tui/bpf.py); the element and batch
writes here are for the benchmarks' own programs, as are program info and
objects found by id.  x86-64 and arm64 syscall numbers only.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import platform
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_SYS_BPF = {"x86_64": 321, "aarch64": 280}
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_OBJ_GET = 7
BPF_PROG_TEST_RUN = 10
BPF_PROG_GET_FD_BY_ID = 13
BPF_MAP_GET_FD_BY_ID = 14
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_MAP_LOOKUP_BATCH = 24
BPF_MAP_UPDATE_BATCH = 26
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
BPF_LINK_CREATE = 28
BPF_TCX_INGRESS = 46  # enum bpf_attach_type, 6.6+: newer than Debian 12's headers
XDP_VERDICTS = {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}
_ATTR_SIZE = 128


class BpfSysError(Exception):
    """A bpf(2) call failed; the message carries the kernel's errno text, and
    `errno` its number (0 when the call could not be made at all)."""

    def __init__(self, message: str, errno: int = 0) -> None:
        super().__init__(message)
        self.errno = errno


def _load_libc() -> ctypes.CDLL:
    # The process's own symbols already include libc's syscall(); find_library
    # would run `ldconfig -p` on every import of this module (every command).
    own = ctypes.CDLL(None, use_errno=True)
    if hasattr(own, "syscall"):
        return own
    from ctypes import util  # only where libc is not linked in

    return ctypes.CDLL(util.find_library("c"), use_errno=True)


_libc = _load_libc()


def new_attr() -> ctypes.Array[ctypes.c_uint8]:
    """A zeroed `union bpf_attr` (as large as any command here needs)."""
    return (ctypes.c_uint8 * _ATTR_SIZE)()


def call(cmd: int, attr: ctypes.Array[ctypes.c_uint8], what: str) -> int:
    """bpf(cmd, attr); its return value.  BpfSysError names `what` on failure."""
    nr = _SYS_BPF.get(platform.machine())
    if nr is None:
        raise BpfSysError(f"bpf(2) syscall number unknown on {platform.machine()}")
    ret = int(_libc.syscall(nr, cmd, ctypes.byref(attr), ctypes.sizeof(attr)))
    if ret < 0:
        err = ctypes.get_errno()
        raise BpfSysError(f"{what}: {os.strerror(err)}", err)
    return ret


def obj_get(pin: Path | str) -> int:
    """An fd for a pinned object; the caller closes it."""
    path = ctypes.create_string_buffer(os.fsencode(pin))
    attr = new_attr()
    struct.pack_into("Q", attr, 0, ctypes.addressof(path))
    return call(BPF_OBJ_GET, attr, f"bpf obj get {pin}")


def prog_fd_by_id(prog_id: int) -> int:
    """An fd for a loaded program; the caller closes it."""
    return _fd_by_id(BPF_PROG_GET_FD_BY_ID, prog_id, "prog")


def map_fd_by_id(map_id: int) -> int:
    """An fd for a map; the caller closes it."""
    return _fd_by_id(BPF_MAP_GET_FD_BY_ID, map_id, "map")


def _fd_by_id(cmd: int, obj_id: int, kind: str) -> int:
    attr = new_attr()
    struct.pack_into("I", attr, 0, obj_id)
    return call(cmd, attr, f"{kind} id {obj_id}")


@contextlib.contextmanager
def opened(fd: int) -> Iterator[int]:
    """`fd` for the block, closed after it."""
    try:
        yield fd
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class RunResult:
    retval: int
    data: bytes
    duration_ns: int

    @property
    def verdict(self) -> str:
        return XDP_VERDICTS.get(self.retval, str(self.retval))


def test_run(
    prog_fd: int,
    frame: bytes,
    repeat: int = 1,
    live: bool = False,
    ifindex: int = 0,
) -> RunResult:
    """Run an XDP program on one frame.

    Live-frames mode really transmits XDP_TX frames on `ifindex` and returns
    no data; it recycles pages without restoring their bytes, so a program
    that rewrites the frame must be timed behind a restoring wrapper.
    """
    buf = ctypes.create_string_buffer(frame, len(frame))
    out_size = 0 if live else len(frame) + 256
    out = ctypes.create_string_buffer(max(out_size, 1))
    ctx = ctypes.create_string_buffer(struct.pack("6I", 0, len(frame), 0, ifindex, 0, 0), 24)
    attr = new_attr()
    use_ctx = live or ifindex != 0
    struct.pack_into(
        "IIIIQQIIIIQQI",
        attr,
        0,
        prog_fd,
        0,
        len(frame),
        out_size,
        ctypes.addressof(buf),
        0 if live else ctypes.addressof(out),
        repeat,
        0,
        24 if use_ctx else 0,
        0,
        ctypes.addressof(ctx) if use_ctx else 0,
        0,
        BPF_F_TEST_XDP_LIVE_FRAMES if live else 0,
    )
    call(BPF_PROG_TEST_RUN, attr, "BPF_PROG_TEST_RUN")
    (retval,) = struct.unpack_from("I", attr, 4)
    (size_out,) = struct.unpack_from("I", attr, 12)
    (duration,) = struct.unpack_from("I", attr, 36)
    data = b"" if live else out.raw[:size_out]
    return RunResult(retval, data, duration)


def tcx_ingress_link(prog_fd: int, ifindex: int) -> int:
    """Attach a TC program at the ingress of `ifindex` through a bpf_link
    (tcx, kernel 6.6+); the link's fd, which the caller closes.

    The program stays attached exactly as long as the fd is open, so a
    process that dies drops it.  tcx runs ahead of any clsact qdisc and its
    filters, which it leaves as they are.  The interface index is looked up
    in the calling thread's network namespace.
    """
    attr = new_attr()
    struct.pack_into("IIII", attr, 0, prog_fd, ifindex, BPF_TCX_INGRESS, 0)
    return call(BPF_LINK_CREATE, attr, "tcx ingress attach")


@dataclass(frozen=True, slots=True)
class ProgInfo:
    """What `bpftool prog show` tells of a program, and its run counters
    (counted while BPF stats are enabled)."""

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


def _prog_info_into(fd: int, buf: ctypes.Array[ctypes.c_char], what: str) -> bytes:
    attr = new_attr()
    struct.pack_into("IIQ", attr, 0, fd, _PI_SIZE, ctypes.addressof(buf))
    call(BPF_OBJ_GET_INFO_BY_FD, attr, what)
    return buf.raw


def prog_info(fd: int) -> ProgInfo:
    raw = _prog_info_into(fd, ctypes.create_string_buffer(_PI_SIZE), "prog info")
    nr_maps = struct.unpack_from("I", raw, _PI_NR_MAP_IDS)[0]
    map_ids: tuple[int, ...] = ()
    if nr_maps:
        # A second call: the kernel fills in map ids only where we point it.
        ids = (ctypes.c_uint32 * nr_maps)()
        buf = ctypes.create_string_buffer(_PI_SIZE)
        struct.pack_into("I", buf, _PI_NR_MAP_IDS, nr_maps)
        struct.pack_into("Q", buf, _PI_MAP_IDS, ctypes.addressof(ids))
        _prog_info_into(fd, buf, "prog map ids")
        map_ids = tuple(int(i) for i in ids)
    prog_id = struct.unpack_from("I", raw, 4)[0]
    jited, xlated = struct.unpack_from("II", raw, 16)
    run_time, run_cnt = struct.unpack_from("QQ", raw, _PI_RUN_TIME)
    return ProgInfo(
        prog_id=prog_id,
        name=raw[64:80].split(b"\0", 1)[0].decode(),
        tag=raw[8:16].hex(),
        jited_len=jited,
        xlated_len=xlated,
        map_ids=map_ids,
        run_time_ns=run_time,
        run_cnt=run_cnt,
        verified_insns=struct.unpack_from("I", raw, _PI_VERIFIED)[0],
    )


_BATCH_CHUNK = 1024

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
PERCPU_TYPES = {5, 6, 10}  # PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH


@functools.cache
def possible_cpus() -> int:
    """How many values a per-CPU map returns: the kernel's possible CPUs (not
    the online ones; fixed while the system runs)."""
    text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    count = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


@dataclass(frozen=True, slots=True)
class MapInfo:
    type: int
    key_size: int
    value_size: int
    max_entries: int
    map_id: int = 0
    name: str = ""
    flags: int = 0

    @property
    def type_name(self) -> str:
        return MAP_TYPES.get(self.type, f"type {self.type}")

    @property
    def percpu(self) -> bool:
        return self.type in PERCPU_TYPES

    @property
    def stride(self) -> int:
        """Bytes of one CPU's value in a lookup buffer (per-CPU: 8-aligned)."""
        return (self.value_size + 7) // 8 * 8 if self.percpu else self.value_size

    @property
    def slot_size(self) -> int:
        """Bytes one element takes in a lookup buffer (per-CPU: all CPUs)."""
        return self.stride * possible_cpus() if self.percpu else self.value_size


def map_info(fd: int) -> MapInfo:
    info = ctypes.create_string_buffer(88)
    attr = new_attr()
    struct.pack_into("IIQ", attr, 0, fd, len(info), ctypes.addressof(info))
    call(BPF_OBJ_GET_INFO_BY_FD, attr, "map info")
    mtype, map_id, key_size, value_size, max_entries, flags = struct.unpack_from("6I", info.raw)
    name = info.raw[24:40].split(b"\0", 1)[0].decode(errors="replace")
    return MapInfo(mtype, key_size, value_size, max_entries, map_id, name, flags)


def lookup(fd: int, key: bytes, value_size: int) -> bytes:
    """One element of a map (a whole 16 MiB flow table is not read to see
    one entry)."""
    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(value_size)
    attr = new_attr()
    struct.pack_into("IIQQQ", attr, 0, fd, 0, ctypes.addressof(k), ctypes.addressof(v), 0)
    call(BPF_MAP_LOOKUP_ELEM, attr, "lookup")
    return v.raw


def lookup_batches(
    fd: int, info: MapInfo, chunk: int = _BATCH_CHUNK, what: str = "batch lookup"
) -> Iterator[tuple[bytes, bytes, int]]:
    """Every element of a map with BPF_MAP_LOOKUP_BATCH, `chunk` at a time:
    (keys, values, count) per call, `count` elements packed in each buffer
    (values `info.slot_size` apart)."""
    keys = ctypes.create_string_buffer(info.key_size * chunk)
    values = ctypes.create_string_buffer(info.slot_size * chunk)
    # Arrays hand back an index, hashes an opaque bucket cursor: 8 bytes hold
    # either, and the kernel reads it before it writes the next one.
    token = ctypes.create_string_buffer(8)
    total = 0
    first = True
    while True:
        attr = new_attr()
        struct.pack_into(
            "QQQQII",
            attr,
            0,
            0 if first else ctypes.addressof(token),
            ctypes.addressof(token),
            ctypes.addressof(keys),
            ctypes.addressof(values),
            chunk,
            fd,
        )
        done = False
        try:
            call(BPF_MAP_LOOKUP_BATCH, attr, what)
        except BpfSysError as exc:
            if exc.errno != errno.ENOENT:
                raise
            done = True  # ENOENT: the last, possibly partial, batch
        (count,) = struct.unpack_from("I", attr, 32)
        yield keys.raw[: count * info.key_size], values.raw[: count * info.slot_size], count
        total += count
        first = False
        if done or count == 0 or total >= info.max_entries:
            return


@dataclass(frozen=True, slots=True)
class ArrayDump:
    """An array map's values as one buffer: entry i, CPU c at
    (i * cpus + c) * stride, value_size bytes long."""

    raw: bytes
    count: int
    cpus: int
    stride: int
    value_size: int

    def values(self) -> list[tuple[bytes, ...]]:
        out = []
        for i in range(self.count):
            base = i * self.cpus * self.stride
            out.append(
                tuple(
                    self.raw[base + c * self.stride : base + c * self.stride + self.value_size]
                    for c in range(self.cpus)
                )
            )
        return out

    def summed_u64_pairs(self) -> list[tuple[int, int]]:
        """(a, b) per entry, summed over CPUs, for values that are two u64s."""
        words = struct.unpack_from(f"<{self.count * self.cpus * self.stride // 8}Q", self.raw)
        per = self.stride // 8
        span = per * self.cpus
        # Strided slices pick one field of one CPU for every entry, so the
        # sums run in C: this runs on every poll, over 4096 backends.
        a = [words[c * per :: span] for c in range(self.cpus)]
        b = [words[c * per + 1 :: span] for c in range(self.cpus)]
        if self.cpus == 1:
            return list(zip(a[0], b[0], strict=True))
        return list(
            zip(map(sum, zip(*a, strict=True)), map(sum, zip(*b, strict=True)), strict=True)
        )


def read_array(pin: Path) -> ArrayDump:
    """Every entry of a pinned array map in a few syscalls (BPF_MAP_LOOKUP_BATCH).

    A stats poll of 4096 backends reads ~128 KiB this way instead of parsing
    ~1.7 MB of bpftool JSON.
    """
    with opened(obj_get(pin)) as fd:
        return array_dump(fd, f"batch lookup {pin}")


def array_dump(fd: int, what: str = "batch lookup") -> ArrayDump:
    """Every entry of an array map, by its fd."""
    info = map_info(fd)
    ncpu = possible_cpus() if info.percpu else 1
    chunks: list[bytes] = []
    total = 0
    for _, values, count in lookup_batches(fd, info, what=what):
        chunks.append(values)
        total += count
    return ArrayDump(b"".join(chunks), total, ncpu, info.stride, info.value_size)


# -- writes -----------------------------------------------------------------------


def update(fd: int, key: bytes, value: bytes) -> None:
    """Write one element (a prog array's value is a program's fd)."""
    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(value, len(value))
    attr = new_attr()
    struct.pack_into("IIQQQ", attr, 0, fd, 0, ctypes.addressof(k), ctypes.addressof(v), 0)
    call(BPF_MAP_UPDATE_ELEM, attr, "map update")


def update_batch(fd: int, info: MapInfo, keys: bytes, values: bytes, count: int) -> None:
    """BPF_MAP_UPDATE_BATCH: `count` elements from packed key and value buffers."""
    if len(keys) != count * info.key_size or len(values) != count * info.slot_size:
        raise BpfSysError(f"batch of {count}: buffer sizes do not match map {info.name}")
    kbuf = ctypes.create_string_buffer(keys, len(keys))
    vbuf = ctypes.create_string_buffer(values, len(values))
    attr = new_attr()
    struct.pack_into(
        "QQQQII", attr, 0, 0, 0, ctypes.addressof(kbuf), ctypes.addressof(vbuf), count, fd
    )
    what = f"map update batch ({info.name})"
    call(BPF_MAP_UPDATE_BATCH, attr, what)
    done = struct.unpack_from("I", attr, 32)[0]
    if done != count:
        raise BpfSysError(f"{what}: {done}/{count}", errno.EIO)
