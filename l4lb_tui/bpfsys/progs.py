"""Programs: BPF_PROG_TEST_RUN, the tcx link, and what a program is."""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass

from l4lb_tui.bpfsys.syscall import BPF_OBJ_GET_INFO_BY_FD, call, new_attr

BPF_PROG_TEST_RUN = 10
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
BPF_LINK_CREATE = 28
BPF_TCX_INGRESS = 46  # enum bpf_attach_type, 6.6+: newer than Debian 12's headers
XDP_VERDICTS = {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}


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
