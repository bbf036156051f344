"""Each service's live ring read back and fingerprinted (`ring_print`).

A ring changes only with a reload, which bumps the service's generation, so
a print is read once per (rings map, service, live ring, generation) and
remembered: a poll of unchanged services reads no ring at all.  The map is
named by its kernel id, not its pin: a balancer detached and attached again
has new maps at the same pins and numbers its services from the start, so a
pin-keyed print of the old rings was served for the new ones (split brain
hidden, t16 F6).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping

from l4lb_tui import abi, bpfsys, ring_print
from l4lb_tui.control.handle import Handle
from l4lb_tui.decoded_backends import DecodedBackends

_Key = tuple[int, int, int, int, int]
_PRINTS: dict[_Key, str] = {}
_PRINTS_MAX = 4096
_LOCK = threading.Lock()


def fingerprints(
    h: Handle, services: Mapping[abi.ServiceKey, abi.ServiceValue], table: DecodedBackends
) -> dict[abi.ServiceKey, str]:
    out: dict[abi.ServiceKey, str] = {}
    if not services:
        return out
    rings = _rings_id(h)
    for key, val in services.items():
        memo: _Key = (rings, val.svc_id, val.ring_chunk, val.ring_size, val.gen)
        with _LOCK:
            found = _PRINTS.get(memo)
        if found is None:
            found = _read(h, val, table)
            with _LOCK:
                if len(_PRINTS) >= _PRINTS_MAX:
                    _PRINTS.clear()
                _PRINTS[memo] = found
        out[key] = found
    return out


def _rings_id(h: Handle) -> int:
    with h.reading("rings"), bpfsys.opened(bpfsys.obj_get(h.map_pin("rings"))) as fd:
        return bpfsys.map_info(fd).map_id


def _read(h: Handle, val: abi.ServiceValue, table: DecodedBackends) -> str:
    chunks = -(-val.ring_size // abi.CHUNK_SLOTS)
    with h.reading("rings"):
        raw = bpfsys.read_values(h.map_pin("rings"), val.ring_chunk, chunks, abi.CHUNK_SLOTS * 4)
    ring = ring_print.decode_ring(raw, val.ring_size)
    half = val.live_half
    ip_of = {}
    for idx in set(ring):
        # A slot naming no entry (a torn or foreign write) prints as "?".
        with contextlib.suppress(KeyError, IndexError):
            ip_of[idx] = table.dest(idx, half).ip
    return ring_print.fingerprint(ring_print.ring_ips(ring, ip_of))
