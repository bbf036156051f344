"""Direct bpf(2) calls that bpftool cannot make: BPF_PROG_TEST_RUN.

`bpftool prog run` costs a process per call and cannot set the live-frames
flag; the benchmark and the packet tests need both, so they call the kernel
here.  x86-64 and arm64 syscall numbers only.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from dataclasses import dataclass
from pathlib import Path

_SYS_BPF = {"x86_64": 321, "aarch64": 280}
BPF_OBJ_GET = 7
BPF_PROG_TEST_RUN = 10
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
XDP_VERDICTS = {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}
_ATTR_SIZE = 128


class BpfSysError(Exception):
    """A bpf(2) call failed; the message carries the kernel's errno text."""


def _load_libc() -> ctypes.CDLL:
    # The process's own symbols already include libc's syscall(); find_library
    # would run `ldconfig -p` on every import of this module (every command).
    own = ctypes.CDLL(None, use_errno=True)
    if hasattr(own, "syscall"):
        return own
    from ctypes import util  # only where libc is not linked in

    return ctypes.CDLL(util.find_library("c"), use_errno=True)


_libc = _load_libc()


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_uint8], what: str) -> int:
    nr = _SYS_BPF.get(platform.machine())
    if nr is None:
        raise BpfSysError(f"bpf(2) syscall number unknown on {platform.machine()}")
    ret = int(_libc.syscall(nr, cmd, ctypes.byref(attr), ctypes.sizeof(attr)))
    if ret < 0:
        err = ctypes.get_errno()
        raise BpfSysError(f"{what}: {os.strerror(err)}")
    return ret


def obj_get(pin: Path) -> int:
    """An fd for a pinned object; the caller closes it."""
    path = ctypes.create_string_buffer(os.fsencode(pin))
    attr = (ctypes.c_uint8 * _ATTR_SIZE)()
    struct.pack_into("Q", attr, 0, ctypes.addressof(path))
    return _bpf(BPF_OBJ_GET, attr, f"bpf obj get {pin}")


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
    attr = (ctypes.c_uint8 * _ATTR_SIZE)()
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
    _bpf(BPF_PROG_TEST_RUN, attr, "BPF_PROG_TEST_RUN")
    (retval,) = struct.unpack_from("I", attr, 4)
    (size_out,) = struct.unpack_from("I", attr, 12)
    (duration,) = struct.unpack_from("I", attr, 36)
    data = b"" if live else out.raw[:size_out]
    return RunResult(retval, data, duration)


BPF_OBJ_GET_INFO_BY_FD = 15
BPF_MAP_LOOKUP_BATCH = 24
_BATCH_CHUNK = 1024


@dataclass(frozen=True, slots=True)
class MapInfo:
    type: int
    key_size: int
    value_size: int
    max_entries: int


PERCPU_TYPES = {5, 6, 10}  # PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH


def possible_cpus() -> int:
    """How many values a per-CPU map returns: the kernel's possible CPUs."""
    text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    count = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


def map_info(fd: int) -> MapInfo:
    info = ctypes.create_string_buffer(80)
    attr = (ctypes.c_uint8 * _ATTR_SIZE)()
    struct.pack_into("IIQ", attr, 0, fd, len(info), ctypes.addressof(info))
    _bpf(BPF_OBJ_GET_INFO_BY_FD, attr, "map info")
    mtype, _, key_size, value_size, max_entries = struct.unpack_from("5I", info.raw, 0)
    return MapInfo(mtype, key_size, value_size, max_entries)


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
        cpus = self.cpus
        out = []
        for i in range(self.count):
            base = i * cpus * per
            a = sum(words[base + c * per] for c in range(cpus))
            b = sum(words[base + c * per + 1] for c in range(cpus))
            out.append((a, b))
        return out


def read_array(pin: Path) -> ArrayDump:
    """Every entry of a pinned array map in a few syscalls (BPF_MAP_LOOKUP_BATCH).

    A stats poll of 4096 backends reads ~128 KiB this way instead of parsing
    ~1.7 MB of bpftool JSON.
    """
    fd = obj_get(pin)
    try:
        info = map_info(fd)
        percpu = info.type in PERCPU_TYPES
        ncpu = possible_cpus() if percpu else 1
        stride = ((info.value_size + 7) // 8 * 8) if percpu else info.value_size
        entry = stride * ncpu
        keys = ctypes.create_string_buffer(info.key_size * _BATCH_CHUNK)
        values = ctypes.create_string_buffer(entry * _BATCH_CHUNK)
        token = ctypes.create_string_buffer(8)
        chunks: list[bytes] = []
        total = 0
        first = True
        while True:
            attr = (ctypes.c_uint8 * _ATTR_SIZE)()
            struct.pack_into(
                "QQQQII",
                attr,
                0,
                0 if first else ctypes.addressof(token),
                ctypes.addressof(token),
                ctypes.addressof(keys),
                ctypes.addressof(values),
                _BATCH_CHUNK,
                fd,
            )
            done = False
            try:
                _bpf(BPF_MAP_LOOKUP_BATCH, attr, f"batch lookup {pin}")
            except BpfSysError as exc:
                if "No such file or directory" not in str(exc):
                    raise
                done = True  # ENOENT: the last, possibly partial, batch
            (count,) = struct.unpack_from("I", attr, 32)
            chunks.append(values.raw[: count * entry])
            total += count
            first = False
            if done or count == 0 or total >= info.max_entries:
                return ArrayDump(b"".join(chunks), total, ncpu, stride, info.value_size)
    finally:
        os.close(fd)
