"""IPv6 services written straight into an attached balancer's maps, as the
design in ARCHITECTURE.md ("IPv6 in the data plane") lays them out, for the
v6 packet fixtures until the reload writer learns IPv6."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import abi, abi6, bpfsys
from l4lb_tui.balancer import Balancer
from l4lb_tui.ring_fill import FillMode, fill


@dataclass(frozen=True)
class Backend6:
    idx: int  # the backends slot
    ip: str
    mac: str
    weight: int = 1
    drained: bool = False


@dataclass(frozen=True)
class Service6:
    vip: str
    port: int
    proto: int
    svc_id: int
    backends: tuple[Backend6, ...]
    mode: FillMode = FillMode.MAGLEV
    ring_size: int = 251


class Maps:
    def __init__(self, bal: Balancer) -> None:
        self.dir = Path(bal.prog_pin).parent / "maps"

    def put(self, name: str, key: bytes, value: bytes) -> None:
        fd = bpfsys.obj_get(self.dir / name)
        try:
            bpfsys.update(fd, key, value)
        finally:
            os.close(fd)


def set_source(bal: Balancer, saddr6: str) -> None:
    Maps(bal).put("config6", abi.u32(0), abi6.ip6_bytes(saddr6))


def entry(b: Backend6, svc_id: int, half: int) -> abi.BackendEntry:
    """A member in `half` only (the other half as a reload leaves it idle)."""
    fold = abi.ip_text(abi6.fold_bytes(b.ip))
    return abi.BackendEntry(fold, b.mac, svc_id).with_view(half, True, b.weight, b.drained)


def write_service(
    bal: Balancer, svc: Service6, vips: set[str], half: int = 0, gen: int = 1
) -> None:
    """The service's idle-half entries and ring, then the flip, then its key
    and marker; the VIP filter for `vips` (every VIP, v4 ones too)."""
    maps = Maps(bal)
    for b in svc.backends:
        maps.put("backends", abi.u32(b.idx), entry(b, svc.svc_id, half).pack())
        maps.put("backend6", abi.u32(b.idx), abi6.ip6_bytes(b.ip))
    live = [b for b in svc.backends if not b.drained and b.weight]
    ring = fill(
        svc.mode, [b.idx for b in live], [b.ip for b in live], [b.weight for b in live],
        svc.ring_size,
    ) if live else []  # fmt: skip
    base = abi.ring_base(svc.svc_id, half)
    for c in range(0, len(ring), abi.CHUNK_SLOTS):
        maps.put("rings", abi.u32(base + c // abi.CHUNK_SLOTS), abi.pack_chunk(ring[c : c + 64]))
    value = abi.ServiceValue(svc.svc_id, base, len(ring), gen)
    maps.put("svc_live", abi.u32(svc.svc_id), value.pack_live())
    maps.put("svc6", abi6.pack_svc6_key(svc.vip, svc.port, svc.proto), abi.u32(svc.svc_id))
    maps.put("svc6", abi6.pack_svc6_key(svc.vip, 0, 0), abi.u32(0))
    for i, words in enumerate(abi.pack_vip_filter(vips)):
        maps.put("vip_filter", abi.u32(i), words)


def backend_of(backends: Sequence[Backend6], ip: str) -> Backend6:
    (found,) = [b for b in backends if b.ip == ip]
    return found
