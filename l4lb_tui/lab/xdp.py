"""The lab's own auxiliary XDP programs: IPIP decap on backends, XDP_PASS on
the balancer's bridge-side peer.

Attached with iproute2 and inspected with bpftool: they need no pins, and
the balancer's loader (l4lb_tui.bpftool) stays the only code that pins.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def program(prog_id: int) -> Program:
    shown = _bpftool_json(["prog", "show", "id", str(prog_id)])
    return Program(prog_id, str(shown.get("name", "")), tuple(shown.get("map_ids", ())))


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
    """Tell the decap program which outer destination is its own."""
    map_id = _maps(program(prog_id))["decap_addr"]
    value = [str(b) for b in ipaddress.IPv4Address(addr).packed]
    _bpftool(["map", "update", "id", str(map_id), "key", *_KEY0, "value", *value])


def decap_status(prog: Program) -> tuple[str, dict[str, int]]:
    """The decap program's own address and its counters (summed over CPUs)."""
    maps = _maps(prog)
    found = _bpftool_json(["map", "lookup", "id", str(maps["decap_addr"]), "key", *_KEY0])
    addr = str(ipaddress.IPv4Address(_bytes(found["value"])))
    totals = dict.fromkeys(DECAP_STATS, 0)
    for entry in _bpftool_json(["map", "dump", "id", str(maps["decap_stats"])]):
        index = int.from_bytes(_bytes(entry["key"]), "little")
        if index < len(DECAP_STATS):
            totals[DECAP_STATS[index]] = sum(
                int.from_bytes(_bytes(cpu["value"]), "little") for cpu in entry["values"]
            )
    return addr, totals


def decap_stats(prog_id: int) -> dict[str, int]:
    return decap_status(program(prog_id))[1]


_KEY0 = ["0", "0", "0", "0"]


def _bytes(hex_list: list[str]) -> bytes:
    """bpftool prints raw keys and values as lists of "0x.." strings."""
    return bytes(int(b, 16) for b in hex_list)


def _maps(prog: Program) -> dict[str, int]:
    """Map name -> id for the maps `prog` uses; KeyError-free for the decap maps."""
    found = {}
    for map_id in prog.map_ids:
        found[str(_bpftool_json(["map", "show", "id", str(map_id)]).get("name"))] = map_id
    missing = {"decap_addr", "decap_stats"} - found.keys() if prog.name == DECAP_PROG else set()
    if missing:
        raise LabError(f"program {prog.prog_id} lacks map(s) {sorted(missing)}", tool="bpftool")
    return found


def _bpftool(args: list[str]) -> str:
    return run_tool(["bpftool", *args]).stdout


def _bpftool_json(args: list[str]) -> Any:
    out = _bpftool(["--json", *args])
    try:
        return json.loads(out)
    except json.JSONDecodeError as exc:
        raise LabError(f"unreadable output of bpftool {' '.join(args)}", tool="bpftool") from exc
