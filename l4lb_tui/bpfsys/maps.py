"""Maps: what a map is, its elements read (one, or all in batches) and written."""

from __future__ import annotations

import ctypes
import errno
import functools
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui.bpfsys.syscall import (
    BPF_OBJ_GET_INFO_BY_FD,
    BpfSysError,
    call,
    new_attr,
    obj_get,
    opened,
)

BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_LOOKUP_BATCH = 24
BPF_MAP_UPDATE_BATCH = 26
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


def lookup_runs(fd: int, info: MapInfo, runs: list[tuple[int, int]]) -> bytes:
    """The values of an array's entries `start .. start + count - 1` for
    each (start, count) in `runs`, packed one after another: a few scattered
    entries of a table of millions, one BPF_MAP_LOOKUP_BATCH a run (the kernel
    spends ~0.4 us an element however small, so whole tables are not read)."""
    longest = max((count for _, count in runs), default=0)
    keys = ctypes.create_string_buffer(info.key_size * max(longest, 1))
    values = ctypes.create_string_buffer(info.slot_size * max(longest, 1))
    token = ctypes.create_string_buffer(8)
    out = bytearray()
    attr = new_attr()
    for start, count in runs:
        # An array's batch cursor is the key before the first one read.
        struct.pack_into("I", token, 0, (start - 1) & 0xFFFFFFFF)
        struct.pack_into(
            "QQQQII", attr, 0, ctypes.addressof(token) if start else 0,
            ctypes.addressof(token), ctypes.addressof(keys), ctypes.addressof(values), count, fd,
        )  # fmt: skip
        try:
            call(BPF_MAP_LOOKUP_BATCH, attr, "batch lookup")
        except BpfSysError as exc:
            if exc.errno != errno.ENOENT:  # ENOENT: the map's end, a partial batch
                raise
        (got,) = struct.unpack_from("I", attr, 32)
        if got != count:
            raise BpfSysError(f"batch lookup: {got} of {count} entries from {start}")
        out += ctypes.string_at(values, count * info.slot_size)
    return bytes(out)


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


def read_values(pin: Path, first: int, count: int, value_size: int) -> list[bytes]:
    """Entries `first` .. `first + count - 1` of a pinned array, one lookup
    each on one fd: a service's live ring is a few hundred of the rings map's
    hundreds of thousands of entries."""
    with opened(obj_get(pin)) as fd:
        return [lookup(fd, (first + i).to_bytes(4, "little"), value_size) for i in range(count)]


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


def read_hash(pin: Path) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a pinned hash map (BPF_MAP_LOOKUP_BATCH)."""
    with opened(obj_get(pin)) as fd:
        info = map_info(fd)
        out: list[tuple[bytes, bytes]] = []
        for keys, values, count in lookup_batches(fd, info, what=f"batch lookup {pin}"):
            ks, vs = info.key_size, info.slot_size
            out += [
                (keys[i * ks : (i + 1) * ks], values[i * vs : i * vs + info.value_size])
                for i in range(count)
            ]
        return out
