"""What each program is once loaded: sizes, verified instructions, the maps
it loads and the helpers its translated code still calls."""

from __future__ import annotations

import re
from dataclasses import dataclass

from l4lb_tui import bpfsys
from l4lb_tui.bpftool import Bpftool


@dataclass(frozen=True, slots=True)
class MapProfile:
    name: str
    type_name: str
    max_entries: int
    value_size: int
    refs: int  # places in the translated program that load this map


@dataclass(frozen=True, slots=True)
class ProgProfile:
    name: str
    prog_id: int
    xlated_bytes: int
    jited_bytes: int
    xlated_insns: int
    verified_insns: int
    maps: tuple[MapProfile, ...]
    helpers: dict[str, int]  # helper calls left in the translated program


def profile(name: str, fd: int) -> ProgProfile:
    info = bpfsys.prog_info(fd)
    dump = Bpftool().run(["prog", "dump", "xlated", "id", str(info.prog_id)]) or []
    refs: dict[int, int] = {}
    helpers: dict[str, int] = {}
    for insn in dump:
        text = str(insn.get("disasm", ""))
        for mid in re.findall(r"map\[id:(\d+)\]", text):
            refs[int(mid)] = refs.get(int(mid), 0) + 1
        m = re.search(r"call (\w+)#", text)
        if m:
            helpers[m.group(1)] = helpers.get(m.group(1), 0) + 1
    maps = []
    for mid in info.map_ids:
        with bpfsys.opened(bpfsys.map_fd_by_id(mid)) as mfd:
            mi = bpfsys.map_info(mfd)
        maps.append(
            MapProfile(mi.name, mi.type_name, mi.max_entries, mi.value_size, refs.get(mid, 0))
        )
    return ProgProfile(
        name=name,
        prog_id=info.prog_id,
        xlated_bytes=info.xlated_len,
        jited_bytes=info.jited_len,
        xlated_insns=info.xlated_insns,
        verified_insns=info.verified_insns,
        maps=tuple(maps),
        helpers=helpers,
    )
