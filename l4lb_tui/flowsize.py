"""The flow table's size: what an operator may ask for at attach, and the
memory it takes.  Pure logic (no I/O).

The data plane indexes the table with the top bits of the flow hash, so its
size is a power of two; the three maps that make it (entries, tags, picks)
are sized together from that one number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from l4lb_tui import abi, abi6

MIN_LOG2 = 12  # 4,096 flows: below this a tag or pick line is shared by too few
MAX_LOG2 = 26  # 67,108,864 flows, 2.3 GiB: past Katran's 8M default and Cilium's 20M spikes
# The default: see BENCHMARKS.md ("Sizing the flow table") and README "Sizes and memory".
DEFAULT_LOG2 = 19
DEFAULT_FLOWS = 1 << DEFAULT_LOG2
LEGACY_LOG2 = 19  # the fixed size before it was the operator's choice (config bits 0)

TAG_BYTES = 1
PICK_BYTES = 4  # a pick and a 16-bit check of its flow
BYTES_PER_FLOW = abi.FLOW.size + TAG_BYTES + PICK_BYTES

# The IPv6 table: 64-byte entries (flows6) behind tags and picks as IPv4's
# (flow6_tags, flow6_picks).  Its default stays the 64k it held while fixed:
# 4 MiB of entries, and the first-packet rule (pending tags) keeps floods
# from filling it; no measurement of v6 flow counts says more.  Sized with
# --flows6 (or `flows6`) like --flows.
DEFAULT_FLOWS6 = 1 << 16
LEGACY_LOG2_6 = 16  # its fixed size before --flows6 (config bits 1..5 0)
BYTES_PER_FLOW6 = abi6.FLOW6.size + TAG_BYTES + PICK_BYTES

_SUFFIX = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_flows(text: str, v6: bool = False) -> int:
    """A flow count as given on the command line or in a config file:
    a power of two, as digits (commas and underscores allowed) or with a
    binary suffix (64k, 4M, 16M).  ValueError says what is allowed, with
    the memory of the table it sizes (`v6`: the IPv6 table's)."""
    m = re.fullmatch(r"\s*([0-9][0-9_,]*)\s*([kKmMgG]?)\s*", text)
    if not m:
        low, high = human(1 << MIN_LOG2), human(1 << MAX_LOG2)
        if re.fullmatch(r"\s*-.*", text):
            raise ValueError(f"flow table size {text!r}: a count of flows, {low} to {high}")
        if re.fullmatch(r"\s*[0-9][0-9_,]*\s*[kKmMgG]?i?[bB]\s*", text):
            example = (memory_bytes6 if v6 else memory_bytes)(4 << 20)
            raise ValueError(
                f"flow table size {text!r}: it counts flows, not bytes (e.g. 4M: "
                f"{mib(example)}; {low} to {high})"
            )
        raise ValueError(f"flow table size {text!r} is not a number (e.g. 4194304 or 4M)")
    n = int(m.group(1).replace("_", "").replace(",", "")) * _SUFFIX[m.group(2).lower()]
    return check_flows(n)


def parse_flows6(text: str) -> int:
    """The IPv6 table's size (--flows6, `flows6`), as parse_flows."""
    return parse_flows(text, v6=True)


def check_flows(n: int) -> int:
    low, high = 1 << MIN_LOG2, 1 << MAX_LOG2
    if n < low or n > high:
        raise ValueError(
            f"flow table size {n:,} is outside {low:,} ({human(low)}) to {high:,} ({human(high)})"
        )
    if n & (n - 1):
        below = 1 << (n.bit_length() - 1)
        raise ValueError(
            f"flow table size {n:,} is not a power of two: take {below:,} ({human(below)}) "
            f"or {below * 2:,} ({human(below * 2)})"
        )
    return n


def log2_of(flows: int) -> int:
    return check_flows(flows).bit_length() - 1


def config_flags(flags: int, flows: int, flows6: int = DEFAULT_FLOWS6) -> int:
    """config.flags with the flow tables' sizes recorded in it (IPv4's in
    bits 8..12, IPv6's in bits 1..5)."""
    mask = abi.CFG_FLOW_LOG2_MASK << abi.CFG_FLOW_LOG2_SHIFT
    mask6 = abi6.CFG_FLOW6_LOG2_MASK << abi6.CFG_FLOW6_LOG2_SHIFT
    return (
        (flags & ~mask & ~mask6)
        | (log2_of(flows) << abi.CFG_FLOW_LOG2_SHIFT)
        | (log2_of(flows6) << abi6.CFG_FLOW6_LOG2_SHIFT)
    )


def flow6_log2(flags: int) -> int:
    """log2 of the IPv6 table's slots as config.flags records it (0: pins
    made before --flows6, whose flows6 is the object's 2^16)."""
    return (flags >> abi6.CFG_FLOW6_LOG2_SHIFT) & abi6.CFG_FLOW6_LOG2_MASK


def human(flows: int) -> str:
    """4194304 -> 4M, 65536 -> 64k."""
    for suffix, unit in (("G", 1 << 30), ("M", 1 << 20), ("k", 1 << 10)):
        if flows >= unit and flows % unit == 0:
            return f"{flows // unit}{suffix}"
    return str(flows)


def map_entries(flows: int) -> dict[str, int]:
    """max_entries of each of the table's maps for `flows` slots."""
    return {
        "flows": flows,
        "flow_tags": flows // abi.FLOW_TAGS_PER_ENTRY,
        "flow_picks": flows // abi.FLOW_PICKS_PER_ENTRY,
    }


def map_entries6(flows6: int) -> dict[str, int]:
    """The same for the IPv6 table of `flows6` slots."""
    return {
        "flows6": flows6,
        "flow6_tags": flows6 // abi.FLOW_TAGS_PER_ENTRY,
        "flow6_picks": flows6 // abi.FLOW_PICKS_PER_ENTRY,
    }


def memory_bytes(flows: int) -> int:
    return flows * BYTES_PER_FLOW


def memory_bytes6(flows6: int) -> int:
    """Kernel memory of an IPv6 table of `flows6` (entries, tags and picks)."""
    return flows6 * BYTES_PER_FLOW6


def mib(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MiB" if n >= 1 << 20 else f"{n / 1024:,.0f} KiB"


def describe(flows: int) -> str:
    """What a table of `flows` takes, said before it is allocated."""
    return (
        f"flow table: {flows:,} flows ({human(flows)}), {mib(memory_bytes(flows))} of kernel "
        f"memory (entries {mib(flows * abi.FLOW.size)}, tags {mib(flows * TAG_BYTES)}, "
        f"picks {mib(flows * PICK_BYTES)})"
    )


def describe6(flows6: int) -> str:
    """What an IPv6 table of `flows6` takes, said before it is allocated."""
    return (
        f"IPv6 flow table: {flows6:,} flows ({human(flows6)}), "
        f"{mib(memory_bytes6(flows6))} of kernel memory (entries "
        f"{mib(flows6 * abi6.FLOW6.size)}, tags {mib(flows6 * TAG_BYTES)}, "
        f"picks {mib(flows6 * PICK_BYTES)})"
    )


# From this occupancy (fewer than eight slots a live flow, the README's
# sizing) at least ~1% of live flows find both ways of their bucket held
# (unstored_share) and never get an entry.  Their packets are counted `new`
# (a third flow's first packet takes the free way's mark, and they take it
# back) or `untracked`, so the untracked rate alone understates them (t18
# HIGH-2): the occupancy warns.
CROWDED = 0.125
# Below CROWDED, untracked packets no more than ~2p^2 of all (p the
# occupancy) are new flows meeting the few buckets whose two ways hold live
# flows, what a flood of one-packet flows (a scan, spoofed SYNs) makes,
# whose packets need no affinity: no resize is advised for them (x17 LOW-7).


TURNS_UP_TO = 0.55


def unstored_share(occupancy: float) -> tuple[float, float]:
    """The share of live flows without an entry in a table of 2-way buckets
    this full, flows hashed into buckets at random (Poisson, lambda flows a
    bucket), as (floor, likely): the floor if a bucket stores min(K, 2) of
    its K flows (flows that came one after another); likely if a bucket of
    three or more stores one, its other flows taking turns marking the free
    way (flows that run at once: what t18 measured, 30% at half full, 10% at
    a third).  `likely` is the floor where that model cannot reach the
    occupancy (past TURNS_UP_TO)."""
    floor = _unstored(occupancy, lambda lam: 1 - math.exp(-lam) * (1 + lam / 2), 64.0)
    # One stored of three or more: occupancy (1 - P0 + P2) / 2, rising up to
    # lambda = 1 + sqrt(3), where it peaks.
    peak = 1 + math.sqrt(3)
    # Near its peak the model's lambda runs away: past 55% only the floor.
    likely = _unstored(occupancy, _turns, peak) if occupancy < TURNS_UP_TO else floor
    return floor, max(floor, likely)


def _turns(lam: float) -> float:
    return (1 - math.exp(-lam) * (1 - lam * lam / 2)) / 2


def _unstored(occupancy: float, occ_of: Callable[[float], float], top: float) -> float:
    """1 - stored/flows at the lambda where occ_of(lambda) = occupancy."""
    if occupancy <= 0:
        return 0.0
    lo, hi = 0.0, top
    for _ in range(60):
        lam = (lo + hi) / 2
        if occ_of(lam) < occupancy:
            lo = lam
        else:
            hi = lam
    return max(0.0, 1 - 2 * occupancy / hi)


def _per_second(count: int, seconds: float) -> str:
    """`12/s`; `<1/s` for a rate that is not 0 but rounds to it."""
    if seconds <= 0:
        return f"{count:,}"
    said = f"{count / seconds:,.0f}"
    return "<1/s" if said == "0" and count else f"{said}/s"


def affinity_warning(
    entries: int,
    capacity: int,
    untracked: int,
    looked_up: int,
    seconds: float,
    ipv6: bool = False,
    brief: bool = False,
) -> str | None:
    """Why flows are losing (or about to lose) their affinity, or None;
    `brief`: in a few words, for the console's header at any width.

    `untracked`/`looked_up`: flow-table outcomes over the last `seconds`.
    An untracked flow is balanced by the ring alone: it keeps its backend
    only while the backend set does not change.
    """
    share = entries / capacity if capacity else 0.0
    name, option = ("IPv6 flow table", "--flows6") if ipv6 else ("flow table", "--flows")
    table = f"{name} {100 * share:.0f}% full ({entries:,} of {capacity:,})"
    rate = ""
    if untracked > 0:
        of = ""
        if looked_up:
            pct = 100 * untracked / looked_up
            of = f" ({pct:.0f}% of packets)" if pct >= 10 else f" ({pct:.2g}% of packets)"
        rate = f"; {_per_second(untracked, seconds)} untracked{of}"
    resize = f"detach and attach with a larger {option} (8 to 16 slots a flow)"
    if brief:
        return _brief(table.split(" (")[0], share, rate, untracked, looked_up, option)
    if share >= TURNS_UP_TO:
        resize = (
            f"a table this full cannot tell how many flows it does not hold: detach and attach "
            f"with a larger {option}, 4 times or more (8 to 16 slots a flow)"
        )
    if share >= CROWDED:
        return (
            f"{table}{rate}: {_lost(share)} of live flows get no entry (their bucket's two "
            "ways held; counted new or untracked) and lose their backend at the next backend "
            f"change; {resize}"
        )
    if not rate:
        return None
    if looked_up and untracked <= 2 * share * share * looked_up:
        return (
            f"{table}{rate}: new flows whose bucket's two ways hold live "
            "flows, as a flood of one-packet flows or a scan makes them; stored flows keep "
            "their backends, and the table is far from full"
        )
    return f"{table}{rate}: those flows lose their backend at the next backend change; {resize}"


def _brief(
    table: str, share: float, rate: str, untracked: int, looked_up: int, option: str
) -> str | None:
    """affinity_warning's few words: `flow table 52% full: 14%+ of flows
    have no entry, larger --flows`."""
    if share >= CROWDED:
        larger = f"{option} 4x+" if share >= TURNS_UP_TO else f"larger {option}"
        return f"{table}: {_lost(share)} of flows have no entry, {larger}"
    if not rate:
        return None
    said = rate.removeprefix("; ").split(" (")[0]
    if looked_up and untracked <= 2 * share * share * looked_up:
        return f"{table}: {said} (one-packet flows, no resize)"
    return f"{table}: {said}, larger {option}"


def _lost(share: float) -> str:
    """`13-31%`: unstored_share's floor and likely share, in whole percent.
    Past TURNS_UP_TO only the floor: 2-way buckets under flows that run at
    once fill to about that, however many flows there are (t19 HIGH-F: 43%
    of 4,000 flows and 71% of 8,000 without an entry, both at 55-57%)."""
    floor, likely = (round(100 * x) for x in unstored_share(share))
    if share < TURNS_UP_TO:
        return f"{floor}-{likely}%" if likely > floor else f"{floor}% or more"
    return f"{floor}% or far more"
