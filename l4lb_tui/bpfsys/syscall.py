"""The call itself: bpf(2) through libc's syscall(), its error, and objects
(pinned, or by id) as file descriptors."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import struct
from collections.abc import Iterator
from pathlib import Path

_SYS_BPF = {"x86_64": 321, "aarch64": 280}
BPF_OBJ_GET = 7
BPF_PROG_GET_FD_BY_ID = 13
BPF_MAP_GET_FD_BY_ID = 14
BPF_OBJ_GET_INFO_BY_FD = 15
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
