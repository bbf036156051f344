"""The text `l4lb bench console` prints."""

from __future__ import annotations

import statistics

from l4lb_bench.chart import table
from l4lb_bench.console.results import SERVICE, SIZE, TARGET_CPU, TARGET_KEY, ConsoleReport


def format_report(rep: ConsoleReport) -> str:
    out = [
        "l4lb bench console",
        f"  {rep.host.line()}",
    ]
    if not rep.runs:
        out += [f"  not measured: {'; '.join(rep.skipped)}"]
        return "\n".join(out)
    out += [
        f"  {rep.options.destinations} destinations ({SERVICE}), {rep.traffic_pps:,.0f} packets/s "
        f"of random-source traffic; the dashboard refreshes every second; {SIZE[0]}x{SIZE[1]}",
        "",
    ]
    rows = []
    for r in rep.runs:
        rows.append(
            [
                r.where,
                f"{r.seconds:.1f}",
                f"{100 * r.cpu_share:.1f}%",
                "meets" if r.cpu_share <= TARGET_CPU else "MISSES",
                str(r.polls) if r.polls else "-",
                str(r.rows),
                "; ".join(r.problems) or "ok",
            ]
        )
    out.append(
        table(
            ["console", "s", "CPU/s", "<=10% core", "polls", "rows", "checks"],
            rows,
            right={1, 2, 4, 5},
        )
    )
    krows = []
    for r in rep.runs:
        for label, times in r.keys.items():
            ks = sorted(times)
            pilot = r.pilot.get(label)
            queued = r.queued.get(label, [])
            slowest = times.index(ks[-1])
            waited = f"{1e3 * queued[slowest]:.0f}" if slowest < len(queued) else "-"
            krows.append(
                [
                    r.where,
                    label,
                    str(len(ks)),
                    f"{1e3 * statistics.median(ks):.0f}",
                    f"{1e3 * ks[-1]:.0f}",
                    "meets" if ks[-1] <= TARGET_KEY else "MISSES",
                    waited,
                    f"{1e3 * statistics.median(pilot):.0f}" if pilot else "-",
                    f"{1e3 * max(pilot):.0f}" if pilot else "-",
                ]
            )
    if rep.pilot_floor:
        fl = rep.pilot_floor
        krows.append(
            [
                "empty App (Pilot)",
                "Down (nothing bound)",
                str(len(fl)),
                "-",
                "-",
                "-",
                "-",
                f"{1e3 * statistics.median(fl):.0f}",
                f"{1e3 * max(fl):.0f}",
            ]
        )
    if rep.tmux_floor:
        fl = sorted(rep.tmux_floor)
        krows.append(
            [
                "tmux, cat in the pane",
                "z (echoed)",
                str(len(fl)),
                f"{1e3 * statistics.median(fl):.0f}",
                f"{1e3 * fl[-1]:.0f}",
                "-",
                "-",
                "-",
                "-",
            ]
        )
    out += ["", "key-press latency, ms (until the screen shows the result)"]
    out.append(
        table(
            ["console", "key", "n", "median", "max", "<=100 ms", "CPU wait", "Pilot.press", "max"],
            krows,
            right={2, 3, 4, 6, 7, 8},
        )
    )
    out += [
        "",
        "  CPU/s: CPU seconds per wall second (headless: this process + the bpftool processes "
        "it ran; tmux: the console's process + its children, from /proc)",
        "  keys: headless, from Pilot.press until the first frame the app rendered that shows "
        "the result (help up, help gone, cursor on the next row); tmux, from send-keys until "
        "capture-pane shows it",
        "  CPU wait: during the slowest press, how long the console's UI thread was ready to "
        "run but waiting for a CPU (run-queue wait, /proc schedstat): other processes' load",
        "  Pilot.press: until that call returned, for reference only: it then waits until the "
        "process looks idle, twice, and for every queued message; 'empty App' is that "
        "round trip with nothing to do; 'tmux, cat in the pane' is tmux's own send-keys to "
        "capture-pane round trip, included in the tmux rows; tmux's Esc includes the console's "
        "50 ms wait that tells the Esc key from the start of an escape sequence",
        *(f"  {s}" for s in rep.skipped),
    ]
    return "\n".join(out)
