"""Rate arithmetic: counters sampled over time become pkts/s and bits/s."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    pps: float
    bps: float


def rate(prev: tuple[int, int] | None, cur: tuple[int, int], seconds: float) -> Rate:
    """Rate between two (pkts, bytes) samples.

    A counter that went backwards was reset (the backend slot was reloaded):
    report zero for that interval instead of a negative rate.
    """
    if prev is None or seconds <= 0:
        return Rate(0.0, 0.0)
    dp = cur[0] - prev[0]
    db = cur[1] - prev[1]
    if dp < 0 or db < 0:
        return Rate(0.0, 0.0)
    return Rate(dp / seconds, db * 8 / seconds)


def fmt_int(value: float) -> str:
    """Thousands separators, as the seed's stats script prints."""
    return f"{round(value):,}"


def fmt_si(value: float, unit: str) -> str:
    """Compact form for narrow columns: 1.23 M pkts/s."""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value:.0f} {unit}"


def share(part: float, total: float) -> float:
    return part / total if total > 0 else 0.0
