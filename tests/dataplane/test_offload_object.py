"""The offload object stays inside what Netronome's NFP accepts.

No NIC here can offload, so the object is loaded for the host and its
translated program (disassembled by bpftool) and maps are read back.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from l4lb_tui import bpfsys
from l4lb_tui.bpftool import Bpftool
from l4lb_tui.paths import PIN_ROOT, bpf_object

pytestmark = pytest.mark.kernel

NFP_MAP_TYPES = {"array", "hash"}
# Array lookups are inlined by the verifier and hash lookups become calls to
# __htab_map_lookup_elem; both are bpf_map_lookup_elem in the source.
NFP_HELPERS = {"map_lookup_elem", "map_update_elem", "xdp_adjust_head", "__htab_map_lookup_elem"}


@contextlib.contextmanager
def loaded(obj: str) -> Iterator[tuple[Bpftool, Path, dict[str, Any]]]:
    """The object loaded for the host and pinned: (bpftool, prog pin, prog info)."""
    tool = Bpftool()
    tool.ensure_bpffs()
    pin = PIN_ROOT / f"~test-{uuid.uuid4().hex[:6]}"
    pin.mkdir(parents=True)
    try:
        tool.prog_load(bpf_object(obj), pin / "prog", pin / "maps")
        yield tool, pin / "prog", tool.prog_show_pinned(pin / "prog")
    finally:
        tool.unpin_tree(pin)


def map_info(map_id: int) -> dict[str, str]:
    """A map's name and type, as bpftool names them."""
    with bpfsys.opened(bpfsys.map_fd_by_id(map_id)) as fd:
        info = bpfsys.map_info(fd)
    return {"name": info.name, "type": info.type_name}


@pytest.fixture(scope="module")
def offload_prog() -> Iterator[tuple[Bpftool, Path, dict[str, Any]]]:
    with loaded("l4lb_xdp_offload.o") as made:
        yield made


def test_offload_maps_are_array_or_hash(offload_prog: tuple[Bpftool, Path, dict[str, Any]]) -> None:
    _, _, prog = offload_prog
    ids = prog["map_ids"]
    assert ids
    types = {map_info(i)["type"] for i in ids}
    assert types <= NFP_MAP_TYPES, f"offload object uses {types - NFP_MAP_TYPES}"


def test_offload_helpers_and_atomics(offload_prog: tuple[Bpftool, Path, dict[str, Any]]) -> None:
    tool, pin, _ = offload_prog
    text = [str(i.get("disasm", "")) for i in tool.prog_dump_xlated(pin)]
    calls = {m.group(1) for t in text if (m := re.search(r"call (?:bpf_)?([a-z_]+)", t))}
    assert calls, "expected helper calls in the translated program"
    assert calls <= NFP_HELPERS, f"helpers the NFP does not offer: {calls - NFP_HELPERS}"
    # Counters are shared on the NIC: every counter write must be an atomic add.
    atomics = [t for t in text if "lock *(u64 *)" in t]
    assert len(atomics) >= 4


def test_driver_object_uses_per_cpu_counters() -> None:
    with loaded("l4lb_xdp.o") as (tool, pin, prog):
        types = {}
        for map_id in prog["map_ids"]:
            info = map_info(map_id)
            types[info["name"]] = info["type"]
        assert types["backend_stats"] == "percpu_array"
        assert types["reasons"] == "percpu_array"
        xlated = tool.prog_dump_xlated(pin)
        assert not [i for i in xlated if "lock " in str(i.get("disasm", ""))], (
            "the driver build must not make shared atomic writes"
        )
