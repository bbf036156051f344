"""IPv6 services in the data plane's `svc6` hash map (no I/O): decoded from
one read, and the batch lines that write them.

A v6 service's key is (VIP, port, protocol) → (service id, fill-mode flags);
each v6 VIP also has a marker key (VIP, 0, 0) → (0, SVC_VIP), the program's
exact "is this a VIP" check.  Ids share the 1..MAX_SERVICES space with IPv4
services, and so `svc_live`, the rings and the backend entries.
"""

from __future__ import annotations

from collections.abc import Iterable

from l4lb_tui import abi, abi6
from l4lb_tui.bpftool import Bpftool

NO_SLOT = -1  # what a v6 key holds where a v4 key holds its svc_index slot


def decode(
    pairs: Iterable[tuple[bytes, bytes]], lives: bytes, live_stride: int
) -> tuple[dict[abi.ServiceKey, abi.ServiceValue], set[str]]:
    """Live v6 services by key, and the VIPs that have a marker."""
    services: dict[abi.ServiceKey, abi.ServiceValue] = {}
    markers: set[str] = set()
    for raw_key, raw_value in pairs:
        vip, port, proto = abi6.unpack_svc6_key(raw_key)
        svc_id, flags = abi6.unpack_svc6_value(raw_value)
        if flags & abi.SVC_VIP:
            markers.add(vip)
            continue
        live = lives[svc_id * live_stride : svc_id * live_stride + 16]
        if not svc_id or len(live) < 16:
            continue
        chunk, size, gen = (abi.unpack_u32(live[i : i + 4]) for i in (0, 4, 8))
        services[abi.ServiceKey(vip, port, proto)] = abi.ServiceValue(
            svc_id, chunk, size, gen, flags & ~abi.SVC_USED
        )
    return services, markers


def key_line(map_id: int, key: abi.ServiceKey, value: abi.ServiceValue) -> str:
    packed = abi6.pack_svc6_key(key.vip, key.port, key.proto)
    return Bpftool.update_cmd(map_id, packed, abi6.pack_svc6_value(value.svc_id, value.flags))


def marker_line(map_id: int, vip: str) -> str:
    packed = abi6.pack_svc6_key(vip, 0, 0)
    return Bpftool.update_cmd(map_id, packed, abi6.pack_svc6_value(0, abi.SVC_VIP))


def delete_line(map_id: int, key: abi.ServiceKey) -> str:
    return Bpftool.delete_cmd(map_id, abi6.pack_svc6_key(key.vip, key.port, key.proto))
