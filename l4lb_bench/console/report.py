"""The text `l4lb bench console` prints."""

from __future__ import annotations

import statistics

from l4lb_bench.chart import table
from l4lb_bench.console.results import SERVICE, TARGET_CPU, TARGET_KEY, ConsoleReport, Run


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
        f"of random-source traffic; the dashboard refreshes every second; "
        f"{rep.options.size[0]}x{rep.options.size[1]}",
        "",
        _cpu_table(rep),
        *_keys(rep),
        *_legend(rep),
    ]
    return "\n".join(out)


def _cpu_table(rep: ConsoleReport) -> str:
    rows = [
        [
            r.where,
            f"{r.seconds:.1f}",
            f"{100 * r.cpu_share:.1f}%",
            "meets" if r.cpu_share <= TARGET_CPU else "MISSES",
            str(r.polls) if r.polls else "-",
            str(r.rows),
            "; ".join(r.problems) or "ok",
        ]
        for r in rep.runs
    ]
    header = ["console", "s", "CPU/s", "<=10% core", "polls", "rows", "checks"]
    return table(header, rows, right={1, 2, 4, 5})


def _key_rows(r: Run) -> list[list[str]]:
    rows = []
    for label, times in r.keys.items():
        ks = sorted(times)
        pilot = r.pilot.get(label)
        queued = r.queued.get(label, [])
        slowest = times.index(ks[-1])
        waited = _ms(queued[slowest]) if slowest < len(queued) else "-"
        rows.append(
            [
                r.where,
                label,
                str(len(ks)),
                _ms(statistics.median(ks)),
                _ms(ks[-1]),
                "meets" if ks[-1] <= TARGET_KEY else "MISSES",
                waited,
                _ms(statistics.median(pilot)) if pilot else "-",
                _ms(max(pilot)) if pilot else "-",
            ]
        )
    return rows


def _floor_rows(rep: ConsoleReport) -> list[list[str]]:
    """What Pilot and tmux themselves take, with nothing of the console."""
    rows = []
    if rep.pilot_floor:
        fl = rep.pilot_floor
        pilot = [_ms(statistics.median(fl)), _ms(max(fl))]
        rows.append(
            ["empty App (Pilot)", "Down (nothing bound)", str(len(fl)), *_NO_FIGURES, *pilot]
        )
    if rep.tmux_floor:
        fl = sorted(rep.tmux_floor)
        keys = [_ms(statistics.median(fl)), _ms(fl[-1])]
        rows.append(["tmux, cat in the pane", "z (echoed)", str(len(fl)), *keys, *_NO_FIGURES])
    return rows


# The four columns a floor row has no figure for.
_NO_FIGURES = ("-", "-", "-", "-")


def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.0f}"


def _keys(rep: ConsoleReport) -> list[str]:
    rows = [row for r in rep.runs for row in _key_rows(r)] + _floor_rows(rep)
    header = ["console", "key", "n", "median", "max", "<=100 ms", "CPU wait", "Pilot.press", "max"]
    return [
        "",
        "key-press latency, ms (until the screen shows the result)",
        table(header, rows, right={2, 3, 4, 6, 7, 8}),
    ]


def _legend(rep: ConsoleReport) -> list[str]:
    return [
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
