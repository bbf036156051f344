"""Which flow-table entries are live, by the data plane's own rule (pure logic).

An entry stored for a flow holds its way while `now - seen < ttl[state]`,
on the 32-bit jiffies clock the data plane stamps `seen` with, the
difference taken modulo 2^32 so a clock that wrapped since the stamp still
measures the right age (bpf/l4lb_flow.h flow_expired, l4lb_flow6.h).  Once
that age reaches its state's lifetime the next flow's first packet may take
the way: the entry is not occupied any more, though its bytes stay.

The occupancy scan runs on every console and daemon poll over up to a
million entries, so the rule is also applied to whole buffers at once:
each entry becomes a 64-bit lane of one big integer, and two big-integer
additions decide every entry (see `live_count`)."""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Sequence

from l4lb_tui import abi, abi6

MASK32 = 0xFFFFFFFF
_LANE = 8  # bytes of a lane: the age (32 bits), its overflow bit, headroom


def _offset(fields: Sequence[tuple[str, str]], name: str) -> int:
    names = [n for n, _ in fields]
    return struct.calcsize("<" + "".join(fmt for _, fmt in fields[: names.index(name)]))


# Where `state` and `seen` sit in an IPv4 and an IPv6 entry, and proto in v6's.
SEEN4 = _offset(abi.STRUCTS["flow"], "seen")
STATE4 = _offset(abi.STRUCTS["flow"], "state")
SEEN6 = _offset(abi6.STRUCTS6["flow6"], "seen")
STATE6 = _offset(abi6.STRUCTS6["flow6"], "state")


def expired(now: int, seen: int, ttl: int) -> bool:
    """The data plane's `now - seen >= ttl` on 32-bit unsigned jiffies."""
    return (now - seen) & MASK32 >= ttl


def lifetime(ttl: Sequence[int], state: int) -> int:
    """The lifetime of an entry in `state` (config.ttl, indexed as the data
    plane does: the state's low three bits; a missing one is 0)."""
    i = state & (abi.FLOW_STATE_SLOTS - 1)
    return ttl[i] if i < len(ttl) else 0


def live_count(
    raw: bytes,
    stride: int,
    stored: bytes,
    ttl: Sequence[int],
    now: int,
    seen_at: int = SEEN4,
    state_at: int = STATE4,
) -> int:
    """How many of the entries packed in `raw` (`stride` bytes apart) are
    stored (`stored`: one byte 1 or 0 per entry) and live at `now`.

    Lane i of three big integers: (now + 2^32) - seen_i, which never borrows
    from the next lane; its low 32 bits are the age; age + (2^32 - ttl) sets
    the lane's bit 32 exactly when age >= ttl.  Counting the bits left set
    among stored lanes counts the expired ones."""
    n = len(stored)
    if n == 0:
        return 0
    seen = bytearray(_LANE * n)
    for k in range(4):
        seen[k::_LANE] = raw[seen_at + k :: stride][:n]
    states = raw[state_at::stride][:n]
    room = bytearray(_LANE * n)  # 2^32 - ttl[state]: 1..2^32
    for k in range(5):
        room[k::_LANE] = states.translate(_room_table(tuple(ttl), k))
    flags = bytearray(_LANE * n)
    flags[4::_LANE] = stored
    ones = _lane_ones(n)  # 1 in every lane: a constant times it fills every lane
    age = (((1 << 32) | (now & MASK32)) * ones - int.from_bytes(seen, "little")) & MASK32 * ones
    over = (age + int.from_bytes(room, "little")) & int.from_bytes(flags, "little")
    # Bit 32 of a lane is its byte 4: counting bytes is quicker than bits.
    return stored.count(1) - over.to_bytes(_LANE * n, "little")[4::_LANE].count(1)


@functools.lru_cache(maxsize=4)
def _lane_ones(n: int) -> int:
    return int.from_bytes((b"\1" + bytes(_LANE - 1)) * n, "little")


@functools.lru_cache(maxsize=16)
def _room_table(ttl: tuple[int, ...], k: int) -> bytes:
    """Byte k of 2^32 - ttl[state], for every state byte."""
    return bytes(((1 << 32) - lifetime(ttl, s)) >> (8 * k) & 0xFF for s in range(256))


_ONE = re.compile(b"\x01")


def first_stored(mask: bytes, limit: int) -> list[int]:
    """The positions of the first `limit` ones in `mask` (one byte a slot)."""
    out: list[int] = []
    for m in _ONE.finditer(mask):
        if len(out) == limit:
            break
        out.append(m.start())
    return out


def runs(slots: Sequence[int], gap: int) -> list[tuple[int, int]]:
    """Ascending `slots` as (start, count) runs to read, two slots at most
    `gap` apart read in one run with what lies between (one more element
    read costs far less than one more read)."""
    out: list[tuple[int, int]] = []
    for s in slots:
        if out and s - (out[-1][0] + out[-1][1]) < gap:
            start = out[-1][0]
            out[-1] = (start, s - start + 1)
        else:
            out.append((s, 1))
    return out


def scaled_live(stored_total: int, stored_read: int, live_read: int) -> int:
    """Live entries of `stored_total` stored ones, from the share live among
    the `stored_read` whose entries were read."""
    if stored_read == 0:
        return 0
    if stored_read >= stored_total:
        return live_read
    return round(stored_total * live_read / stored_read)
