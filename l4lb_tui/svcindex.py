"""Where each service lives in the data plane's `svc_index` array (no I/O).

The program finds a service by hashing (VIP, port, protocol) to a bucket of
`SVC_BUCKET` slots and comparing keys, so a service must sit in a free slot of
its own bucket.  A slot is only ever written when empty, and emptied before
it is reused, which keeps a half-written slot harmless to a reader.  Each VIP
also has a marker slot, key (VIP, 0, 0), for the program's exact VIP check.
"""

from __future__ import annotations

import re

from l4lb_tui import abi

SLOT_SIZE = abi.VALUE_SIZES["svc_index"]  # without the kernel's padding to 16 bytes
_USED = re.compile(rb"[\x80-\xff]")  # a flags byte with SVC_USED


class ServiceIndexFull(Exception):
    """The key's bucket has no free slot."""


def marker(vip: str) -> abi.ServiceKey:
    """The key of a VIP's marker slot."""
    return abi.ServiceKey(vip, 0, 0)


def pack_marker(vip: str) -> bytes:
    return marker(vip).pack(abi.SVC_USED | abi.SVC_VIP) + abi.u32(0)


def decode(
    index: bytes, index_stride: int, lives: bytes, live_stride: int
) -> tuple[dict[abi.ServiceKey, tuple[int, abi.ServiceValue]], dict[str, int]]:
    """Services by key, with their slot, and VIP markers by VIP, with theirs,
    from the two arrays' raw values (`svc_index` and `svc_live` as one batch
    read returns them)."""
    out: dict[abi.ServiceKey, tuple[int, abi.ServiceValue]] = {}
    markers: dict[str, int] = {}
    # 32,768 slots, a few hundred used: find the used flags bytes in C.
    for m in _USED.finditer(index[7::index_stride]):
        idx = m.start()
        raw = index[idx * index_stride : idx * index_stride + SLOT_SIZE]
        if raw[7] & abi.SVC_VIP:
            markers[abi.ip_text(raw[:4])] = idx
            continue
        svc_id = abi.unpack_u32(raw[8:12])
        live = lives[svc_id * live_stride : (svc_id + 1) * live_stride]
        if not svc_id or len(live) < live_stride:
            continue  # not a live service (a build with other sizes)
        key, value = abi.ServiceValue.unpack(raw, live)
        out[key] = (idx, value)
    return out, markers


def orphans(lives: bytes, live_stride: int, used: set[int]) -> list[int]:
    """Service ids whose svc_live entry still says live (a generation) though
    no svc_index slot names them: left by a `service del` or a new
    service's first load killed between its two writes.  Their established
    flows would go on being balanced, unseen."""
    return [
        i
        for i in range(1, len(lives) // live_stride)
        if i not in used and abi.unpack_u32(lives[i * live_stride + 8 : i * live_stride + 12])
    ]


def free_slot(key: abi.ServiceKey, taken: set[int]) -> int:
    first = abi.svc_bucket(key) * abi.SVC_BUCKET
    for idx in range(first, first + abi.SVC_BUCKET):
        if idx not in taken:
            return idx
    what = f"VIP {key.vip}" if key == marker(key.vip) else f"service {key}"
    raise ServiceIndexFull(
        f"{what}: its bucket of the service index already holds {abi.SVC_BUCKET} "
        "entries (a rare hash collision); use another port or VIP for it"
    )


def empty_slot() -> bytes:
    return bytes(SLOT_SIZE)
