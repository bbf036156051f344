"""`l4lb bench health`: what 4,096 TCP health checks a second cost the prober.

Two namespaces joined by a veth: the prober's (`l4hbPID-p`), and the
backends' (`l4hbPID-s`), whose loopback holds one prefix (a /20 for 4,096
addresses) and one real server process answering on all of them
(server.py).  The scheduler and its sockets run in this process, pinned
to one CPU, with a HealthBoard counting every result in, as the daemon
would; the server runs pinned to another CPU.  The figure is this process's
CPU time over the measured seconds (process_time: the scheduler's exact run
time; the user/system split beside it is sampled), as a share of one core,
the median of three rounds.

On a real host the backends are other machines, so their side of each
handshake is not the prober's cost.  Here it would run inline in the
prober's system calls, so the measured rounds steer the backends' packets to
the server's CPU (RPS on their veth).  The replies are then received there
too, which leaves the prober's own receive work (a SYN-ACK, sending the
ACK) out of the figure.  A last round (not with --quick) leaves everything
on the prober's CPU: an upper bound, the simulated backends' kernel work
included.

HTTP and UDP checks (`--check`) are measured the same way; the target is
for TCP.

It returns 0 (verified), 1 (a check failed) or 2 (could not run), as every
benchmark does.
"""

from __future__ import annotations

from l4lb_bench.health.report import format_report
from l4lb_bench.health.results import TARGET_SHARE, Phase
from l4lb_bench.health.run import run_health

__all__ = ["TARGET_SHARE", "Phase", "format_report", "run_health"]
