"""`l4lb bench dataplane`: what one packet costs the balancer, per kind of packet.

Method (see BENCHMARKS.md):
  * BPF_PROG_TEST_RUN in live-frames mode on a veth pair in a namespace of
    this run; the peer drops what it receives (it must run XDP to receive
    XDP_TX frames at all), so XDP_TX really transmits;
  * every program behind the restoring wrapper (bpf/bench_wrap.c), and the
    wrapper checked to restore every byte each program rewrites;
  * references timed through the same wrapper, in the same run: the MAC-swap
    XDP_TX reflector and bare XDP_PASS (with --costs also XDP_DROP, the fixed
    cost, and the what-costs-what probes of bpf/bench_cost.c);
  * this process pinned to one CPU, programs interleaved round by round, the
    median of each program's ns/packet and of its round-by-round ratio;
  * new flows made by the wrapper (a new source address every packet), the
    flow table emptied before each forwarding run (bpf/bench_clear.c);
  * every timed run checked: the balancer's counters grew by exactly the
    repeat count on the expected counter, the peer received exactly the
    frames a program transmitted, an established flow hit the flow table and
    a new one never did.  A figure whose checks fail is reported as such.
"""

from __future__ import annotations

from l4lb_bench.dataplane.packets import Kind, kinds
from l4lb_bench.dataplane.report import format_report
from l4lb_bench.dataplane.results import DataplaneReport, Options
from l4lb_bench.dataplane.run import run_dataplane

__all__ = ["DataplaneReport", "Kind", "Options", "format_report", "kinds", "run_dataplane"]
