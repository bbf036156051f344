"""IPv6 services in the data plane's `svc6` array (no I/O): decoded from one
read, where a new one goes, and the batch lines that write them.

`svc6` is direct-mapped as `svc_index` (svcindex.py): a key (VIP, port,
protocol) hashes to a bucket of `SVC6_BUCKET` slots, each slot holding the
whole key, SVC_* flags and the service id.  Each v6 VIP also has a marker
slot, key (VIP, 0, 0) with SVC_VIP, the program's exact "is this a VIP"
check.  Slot numbers are svc6's own (a key's family says which index it is
in).  Ids share the 1..MAX_SERVICES space with IPv4 services, and so
`svc_live`, the rings and the backend entries.
"""

from __future__ import annotations

import re

from l4lb_tui import abi, abi6
from l4lb_tui.bpftool import Bpftool
from l4lb_tui.svcindex import ServiceIndexFull, marker

_FLAGS_AT = 19  # svc6_slot.flags
_USED = re.compile(rb"[\x80-\xff]")  # a flags byte with SVC_USED


def decode(
    index: bytes, index_stride: int, lives: bytes, live_stride: int
) -> tuple[dict[abi.ServiceKey, tuple[int, abi.ServiceValue]], dict[str, int]]:
    """Live v6 services by key and VIP markers by VIP, each with its slot,
    from the raw values of `svc6` and `svc_live` as batch reads return them."""
    services: dict[abi.ServiceKey, tuple[int, abi.ServiceValue]] = {}
    markers: dict[str, int] = {}
    for m in _USED.finditer(index[_FLAGS_AT::index_stride]):
        idx = m.start()
        vip, port, proto, flags, svc_id = abi6.unpack_svc6_slot(index[idx * index_stride :])
        if flags & abi.SVC_VIP:
            markers[vip] = idx
            continue
        live = lives[svc_id * live_stride : svc_id * live_stride + 16]
        if not svc_id or len(live) < 16:
            continue  # half-written, or not a live service
        chunk, size, gen = (abi.unpack_u32(live[i : i + 4]) for i in (0, 4, 8))
        services[abi.ServiceKey(vip, port, proto)] = (
            idx,
            abi.ServiceValue(svc_id, chunk, size, gen, flags & ~abi.SVC_USED),
        )
    return services, markers


def free_slot(key: abi.ServiceKey, taken: set[int]) -> int:
    """A free slot of the key's bucket (`taken`: svc6 slots in use)."""
    first = abi6.svc6_bucket(key.vip, key.port, key.proto) * abi6.SVC6_BUCKET
    for idx in range(first, first + abi6.SVC6_BUCKET):
        if idx not in taken:
            return idx
    what = f"VIP {key.vip}" if key == marker(key.vip) else f"service {key}"
    raise ServiceIndexFull(
        f"{what}: its bucket of the IPv6 service index already holds "
        f"{abi6.SVC6_BUCKET} entries (a rare hash collision); use another port or VIP for it"
    )


def key_line(map_id: int, slot: int, key: abi.ServiceKey, value: abi.ServiceValue) -> str:
    flags = abi.SVC_USED | value.flags
    packed = abi6.pack_svc6_slot(key.vip, key.port, key.proto, flags, value.svc_id)
    return Bpftool.update_cmd(map_id, abi.u32(slot), packed)


def marker_line(map_id: int, slot: int, vip: str) -> str:
    packed = abi6.pack_svc6_slot(vip, 0, 0, abi.SVC_USED | abi.SVC_VIP, 0)
    return Bpftool.update_cmd(map_id, abi.u32(slot), packed)


def empty_line(map_id: int, slot: int) -> str:
    return Bpftool.update_cmd(map_id, abi.u32(slot), bytes(abi6.SVC6_SLOT_SIZE))
