"""`l4lb bench console`: what the operator console costs while it watches.

A balancer in a namespace of this run holds 512 destinations for one UDP
service; hping3 sends it random-source traffic from a second namespace, so
every refresh has new figures.  The console (l4lb_tui.app, refreshing every
second) then runs
  * headless, under Textual's Pilot, in this process: CPU (this process and
    the bpftool processes it waits for) per second of wall time, and the
    latency of `?` (help opens) and Esc (it closes), pressed at spread-out
    moments so some land during a refresh;
  * in a real terminal: `l4lb-tui` in a tmux of its own, CPU of that
    process from /proc, and the time from `tmux send-keys` until the help
    shows in `tmux capture-pane`.
"""

from __future__ import annotations

from l4lb_bench.console.report import format_report
from l4lb_bench.console.results import ConsoleReport, Options
from l4lb_bench.console.run import run_console

__all__ = ["ConsoleReport", "Options", "format_report", "run_console"]
