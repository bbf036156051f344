"""The text `l4lb bench health` prints."""

from __future__ import annotations

import statistics

from l4lb_bench.health.results import TARGET_SHARE, Phase

_WHAT = {"tcp": "TCP connect", "http": "HTTP GET", "udp": "UDP request and reply"}


def format_report(phases: list[Phase]) -> str:
    what = _WHAT[phases[0].check]
    lines = [f"health checks: {what} to every backend once a second, one prober thread"]
    for p in phases:
        lat = sorted(p.latencies) or [0.0]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        mark = "" if p.verified else "  UNVERIFIED"
        per_probe = 1e6 * p.cpu / max(p.ok + p.failed, 1)
        lines += [
            f"  {p.name}:{mark}",
            f"    {p.backends:,} backends, {p.rate:,.0f} probes/s over {p.seconds:.1f} s "
            f"({p.ok:,} passed, {p.failed:,} failed{_details(p)})",
            f"    CPU: {p.share:.1f}% of one core, {per_probe:.1f} us a probe "
            f"(about {p.user:.2f} s user and {p.system:.2f} s system)",
            f"    latency: median {1e3 * statistics.median(lat):.2f} ms, p99 {1e3 * p99:.2f} ms; "
            f"load average {p.load:.1f} (this run included)",
        ]
    shares = [p.share for p in phases if p.steered]
    if phases[0].check == "tcp":
        # The median of the rounds: other tenants of a shared host move single runs.
        share = statistics.median(shares)
        verdict = "met" if share <= TARGET_SHARE else "MISSED"
        spread = f", rounds {min(shares):.1f}-{max(shares):.1f}%" if len(shares) > 1 else ""
        lines.append(
            f"  target: <= {TARGET_SHARE:g}% of one core: {verdict} ({share:.1f}%{spread})"
        )
    return "\n".join(lines)


def _details(p: Phase) -> str:
    return "".join(f"; {n} {d}" for d, n in sorted(p.details.items()))
