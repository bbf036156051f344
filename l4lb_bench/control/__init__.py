"""`l4lb bench control`: what the control plane costs at 32, 512 and 4096 destinations.

For each size, on a balancer in a namespace of this run:
  * load a destinations CSV: end to end (the `l4lb map` command, a process)
    and in-process (read + Balancer.load), with where the time goes;
  * change one backend (`l4lb backend weight`, Balancer.set_weight);
  * one stats poll: what `l4lb stats` does each second (counters + state on
    one Balancer) and what the console does (RealBackend.sample), wall time
    and CPU of this process and its children (bpftool).
Every bpftool process is timed on its own, so the report says what the
adapter costs beside the rest.
"""

from __future__ import annotations

from l4lb_bench.control.report import format_report
from l4lb_bench.control.results import ControlReport, Options
from l4lb_bench.control.run import run_control

__all__ = ["ControlReport", "Options", "format_report", "run_control"]
