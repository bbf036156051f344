"""Direct bpf(2) calls that bpftool cannot make: BPF_PROG_TEST_RUN.

`bpftool prog run` costs a process per call and cannot set the live-frames
flag; the benchmark and the packet tests need both, so they call the kernel
here.  x86-64 and arm64 syscall numbers only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import struct
from dataclasses import dataclass
from pathlib import Path

_SYS_BPF = {"x86_64": 321, "aarch64": 280}
BPF_OBJ_GET = 7
BPF_PROG_TEST_RUN = 10
BPF_PROG_GET_FD_BY_ID = 13
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
XDP_VERDICTS = {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}
_ATTR_SIZE = 128


class BpfSysError(Exception):
    """A bpf(2) call failed; the message carries the kernel's errno text."""


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


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


def prog_fd_by_id(prog_id: int) -> int:
    attr = (ctypes.c_uint8 * _ATTR_SIZE)()
    struct.pack_into("I", attr, 0, prog_id)
    return _bpf(BPF_PROG_GET_FD_BY_ID, attr, f"prog id {prog_id}")


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
