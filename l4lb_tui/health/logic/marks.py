"""Which packet mark sends a probe through the tunnel to which backend.

A mark is the tunnel's base (its upper 16 bits, matched by one routing rule)
with a slot in the lower 16; the tunnel's program reads the backend's
address from that slot.  IPv4 and IPv6 backends share the slots: a mark
names one backend whatever its family.  Slot 0 is never given out: a mark
without a slot is dropped, never sent anywhere.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MARK_MASK = 0xFFFF0000
SLOT_MASK = 0x0000FFFF
MAX_SLOTS = SLOT_MASK  # slots 1..65535


def check_base(base: int) -> int:
    if base & SLOT_MASK or not 0 < base <= 0xFFFFFFFF:
        raise ValueError(f"mark base {base:#x}: non-zero, and its lower 16 bits clear")
    return base


def mark(base: int, slot: int) -> int:
    if not 0 < slot <= MAX_SLOTS:
        raise ValueError(f"slot {slot} outside 1-{MAX_SLOTS}")
    return base | slot


@dataclass(frozen=True, slots=True)
class SlotPlan:
    """The slots after a change, and the writes that make it so."""

    slots: Mapping[str, int]  # backend address -> slot
    write: tuple[tuple[int, str], ...]  # (slot, address) to set
    clear: tuple[int, ...]  # slots to empty


def plan_slots(
    current: Mapping[str, int], wanted: Iterable[str], capacity: int = MAX_SLOTS
) -> SlotPlan:
    """Backends keep their slots; new ones get the lowest slots free before
    the change, so a probe still in flight for a removed backend can never
    reach a newcomer through its old slot."""
    wanted_set = set(wanted)
    kept = {ip: slot for ip, slot in current.items() if ip in wanted_set}
    clear = tuple(sorted(slot for ip, slot in current.items() if ip not in wanted_set))
    taken = set(current.values())
    new = sorted(wanted_set - kept.keys(), key=_address_order)
    free = (slot for slot in range(1, capacity + 1) if slot not in taken)
    write = []
    for ip in new:
        slot = next(free, None)
        if slot is None:
            raise ValueError(f"{len(wanted_set)} backends, but the tunnel has {capacity} slots")
        kept[ip] = slot
        write.append((slot, ip))
    return SlotPlan(slots=kept, write=tuple(write), clear=clear)


def _address_order(ip: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(ip)
    return addr.version, int(addr)
