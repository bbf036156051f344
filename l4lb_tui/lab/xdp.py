"""The lab's own auxiliary XDP programs: IPIP and ip6ip6 decap on backends, XDP_PASS on
the balancer's bridge-side peer.

Loaded and attached with iproute2, they need no pins: the balancer's loader
(l4lb_tui.bpftool) stays the only code that pins.  Read and set by id through
the bpf(2) adapter, as any program's maps are.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import bpfsys
from l4lb_tui.lab.errors import LabError
from l4lb_tui.lab.tools import run_tool

BPF_DIR = Path(__file__).resolve().parents[2] / "bpf"
DECAP_OBJ = BPF_DIR / "l4lb_decap.o"
PASS_OBJ = BPF_DIR / "l4lb_pass.o"
# Program names as the kernel reports them (the C function names).
DECAP_PROG = "l4lb_decap"
PASS_PROG = "l4lb_pass"
# Order of `enum decap_stat` in bpf/l4lb_decap.c.
DECAP_STATS = ("decapsulated", "not_ipip", "foreign", "malformed", "error")


def build() -> None:
    """Build only the lab's two objects: a half-written balancer program in
    the same directory must not keep the lab from coming up."""
    if not (BPF_DIR / "Makefile").is_file():
        raise LabError(f"no {BPF_DIR / 'Makefile'}: the lab runs from a source tree", tool="make")
    run_tool(["make", "-s", "-C", str(BPF_DIR), DECAP_OBJ.name, PASS_OBJ.name], timeout=120)


@dataclass(frozen=True, slots=True)
class Program:
    prog_id: int
    name: str
    map_ids: tuple[int, ...]


@contextlib.contextmanager
def _bpf() -> Iterator[None]:
    try:
        yield
    except bpfsys.BpfSysError as exc:
        raise LabError(str(exc), tool="bpf") from exc


def program(prog_id: int) -> Program:
    with _bpf(), bpfsys.opened(bpfsys.prog_fd_by_id(prog_id)) as fd:
        info = bpfsys.prog_info(fd)
    return Program(prog_id, info.name, info.map_ids)


def attach(ns: str, ifname: str, obj: Path, current: int | None, name: str) -> None:
    """Attach `obj` in driver mode unless a program called `name` already is.

    `current` is the id attached now, if any: a foreign program is replaced
    (-force), ours is left alone so a second `up` changes nothing.
    """
    if current is not None and program(current).name == name:
        return
    force = ["-force"] if current is not None else []
    run_tool(
        ["ip", *force, "-n", ns, "link", "set", "dev", ifname, "xdpdrv", "obj", str(obj),
         "sec", "xdp"]
    )  # fmt: skip


def set_decap_address(prog_id: int, addr: str) -> None:
    """Tell the decap program which outer destination (of IPIP, or with a
    colon of ip6ip6) is its own."""
    v6 = ":" in addr
    map_id = _maps(program(prog_id))["decap_addr6" if v6 else "decap_addr"]
    raw = ipaddress.IPv6Address(addr).packed if v6 else ipaddress.IPv4Address(addr).packed
    with _bpf(), bpfsys.opened(bpfsys.map_fd_by_id(map_id)) as fd:
        bpfsys.update(fd, _KEY0, raw)


def decap_status(prog: Program) -> tuple[str, dict[str, int]]:
    """The decap program's own address and its counters (summed over CPUs)."""
    maps = _maps(prog)
    with _bpf():
        with bpfsys.opened(bpfsys.map_fd_by_id(maps["decap_addr"])) as fd:
            addr = str(ipaddress.IPv4Address(bpfsys.lookup(fd, _KEY0, 4)))
        with bpfsys.opened(bpfsys.map_fd_by_id(maps["decap_stats"])) as fd:
            per_cpu = bpfsys.array_dump(fd, "decap stats").values()
    totals = dict.fromkeys(DECAP_STATS, 0)
    for name, cpus in zip(DECAP_STATS, per_cpu, strict=False):
        totals[name] = sum(int.from_bytes(value, "little") for value in cpus)
    return addr, totals


def decap_stats(prog_id: int) -> dict[str, int]:
    return decap_status(program(prog_id))[1]


_KEY0 = bytes(4)


def _maps(prog: Program) -> dict[str, int]:
    """Map name -> id for the maps `prog` uses; KeyError-free for the decap maps."""
    found = {}
    with _bpf():
        for map_id in prog.map_ids:
            with bpfsys.opened(bpfsys.map_fd_by_id(map_id)) as fd:
                found[bpfsys.map_info(fd).name] = map_id
    missing = (
        {"decap_addr", "decap_addr6", "decap_stats"} - found.keys()
        if prog.name == DECAP_PROG
        else set()
    )
    if missing:
        raise LabError(f"program {prog.prog_id} lacks map(s) {sorted(missing)}", tool="bpf")
    return found
