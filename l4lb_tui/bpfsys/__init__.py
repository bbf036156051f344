"""The bpf(2) adapter: the calls the product, the lab and the benchmarks make
to the kernel without bpftool.  Every failure is a BpfSysError.

`bpftool prog run` costs a process per call and cannot set the live-frames
flag; the benchmarks and the packet tests need both (BPF_PROG_TEST_RUN).
The flow clock (bpf_jiffies64, through a tiny program) is read here too.
Map reads are here (BPF_MAP_LOOKUP_BATCH, object info): a poll reads 4096
per-CPU counters, which bpftool hands over as megabytes of JSON.  The
product writes through bpftool (l4lb_tui/bpftool.py); the element and batch
writes here are for the benchmarks' and the lab's own programs (found by id),
which need no pins.  x86-64 and arm64 syscall numbers only.
"""

from __future__ import annotations

from l4lb_tui.bpfsys.clock import jiffies32
from l4lb_tui.bpfsys.maps import (
    ArrayDump,
    MapInfo,
    array_dump,
    lookup,
    lookup_batches,
    lookup_runs,
    map_info,
    possible_cpus,
    read_array,
    read_hash,
    read_values,
    update,
    update_batch,
)
from l4lb_tui.bpfsys.progs import (
    ProgInfo,
    RunResult,
    prog_info,
    tcx_ingress_link,
    test_run,
)
from l4lb_tui.bpfsys.syscall import (
    BpfSysError,
    map_fd_by_id,
    obj_get,
    opened,
    prog_fd_by_id,
)

__all__ = [
    "ArrayDump",
    "BpfSysError",
    "MapInfo",
    "ProgInfo",
    "RunResult",
    "array_dump",
    "jiffies32",
    "lookup",
    "lookup_batches",
    "lookup_runs",
    "map_fd_by_id",
    "map_info",
    "obj_get",
    "opened",
    "possible_cpus",
    "prog_fd_by_id",
    "prog_info",
    "read_array",
    "read_hash",
    "read_values",
    "tcx_ingress_link",
    "test_run",
    "update",
    "update_batch",
]
