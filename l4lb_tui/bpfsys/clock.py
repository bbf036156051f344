"""The data plane's clock, read exactly: the low 32 bits of bpf_jiffies64(),
which the flow table stamps entries with (flow.seen).

No file gives jiffies on their own (/proc/timer_list prints them among
kilobytes of per-CPU timers, slowly), and CLOCK_MONOTONIC is not the tick
count: jiffies start at INITIAL_JIFFIES, not 0, and a tickless CPU catches
ticks up late.  So a two-instruction program asks the kernel itself:
`r0 = bpf_jiffies64(); exit`, loaded once per process and run with
BPF_PROG_TEST_RUN; its return value is the low 32 bits, the width the data
plane keeps (`(__u32)bpf_jiffies64()`)."""

from __future__ import annotations

import ctypes
import struct
import threading

from l4lb_tui.bpfsys.progs import test_run
from l4lb_tui.bpfsys.syscall import call, new_attr

BPF_PROG_LOAD = 5
BPF_PROG_TYPE_XDP = 6
_FUNC_JIFFIES64 = 118  # enum bpf_func_id
# call bpf_jiffies64 (BPF_JMP | BPF_CALL); exit (BPF_JMP | BPF_EXIT)
_INSNS = struct.pack("<BBhiBBhi", 0x85, 0, 0, _FUNC_JIFFIES64, 0x95, 0, 0, 0)
_FRAME = bytes(64)  # XDP's test run wants a frame; the program never reads it

_lock = threading.Lock()
_prog_fd: int | None = None


def _load() -> int:
    insns = ctypes.create_string_buffer(_INSNS, len(_INSNS))
    # The helper is not GPL-only; the string only has to be a license.
    license_ = ctypes.create_string_buffer(b"BSD")
    attr = new_attr()
    struct.pack_into(
        "IIQQ", attr, 0, BPF_PROG_TYPE_XDP, len(_INSNS) // 8, ctypes.addressof(insns),
        ctypes.addressof(license_),
    )  # fmt: skip
    struct.pack_into("16s", attr, 48, b"l4lb_jiffies")
    return call(BPF_PROG_LOAD, attr, "load the clock program")


def jiffies32() -> int:
    """The kernel's jiffies now, low 32 bits (the program is loaded on the
    first call and kept for the life of the process)."""
    global _prog_fd
    with _lock:
        if _prog_fd is None:
            _prog_fd = _load()
        fd = _prog_fd
    return test_run(fd, _FRAME).retval & 0xFFFFFFFF
