"""Direct bpf(2) calls that bpftool cannot make: BPF_PROG_TEST_RUN, and reads.

`bpftool prog run` costs a process per call and cannot set the live-frames
flag; the benchmark and the packet tests need both, so they call the kernel
here.  Map reads (BPF_MAP_LOOKUP_BATCH, object info) are here too: a poll
reads 4096 per-CPU counters, which bpftool hands over as megabytes of JSON.
Writes stay with bpftool (l4lb_tui/bpf.py).  x86-64 and arm64 syscall
numbers only.
"""

from __future__ import annotations

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
BPF_OBJ_GET = 7
BPF_PROG_TEST_RUN = 10
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


BPF_MAP_LOOKUP_ELEM = 1
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_MAP_LOOKUP_BATCH = 24
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


def prog_id(fd: int) -> int:
    """The id of a program (struct bpf_prog_info: type, then id)."""
    info = ctypes.create_string_buffer(8)
    attr = new_attr()
    struct.pack_into("IIQ", attr, 0, fd, len(info), ctypes.addressof(info))
    call(BPF_OBJ_GET_INFO_BY_FD, attr, "prog info")
    value: int = struct.unpack_from("I", info.raw, 4)[0]
    return value


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
    fd = obj_get(pin)
    try:
        info = map_info(fd)
        ncpu = possible_cpus() if info.percpu else 1
        chunks: list[bytes] = []
        total = 0
        for _, values, count in lookup_batches(fd, info, what=f"batch lookup {pin}"):
            chunks.append(values)
            total += count
        return ArrayDump(b"".join(chunks), total, ncpu, info.stride, info.value_size)
    finally:
        os.close(fd)


def read_map(pin: Path) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a pinned map that is not per-CPU, as read_array
    but with the keys (a hash map's come in no particular order)."""
    fd = obj_get(pin)
    try:
        info = map_info(fd)
        if info.percpu:
            raise BpfSysError(f"{pin}: a per-CPU map (read it with read_array)")
        ks, vs = info.key_size, info.value_size
        out: list[tuple[bytes, bytes]] = []
        for keys, values, count in lookup_batches(fd, info, what=f"batch lookup {pin}"):
            out += [
                (keys[i * ks : (i + 1) * ks], values[i * vs : (i + 1) * vs]) for i in range(count)
            ]
        return out
    finally:
        os.close(fd)
