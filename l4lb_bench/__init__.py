"""`l4lb bench`: benchmarks that print figures (issue 6; see BENCHMARKS.md).

register(subparsers); run(args)   # wire `bench` into a CLI
python -m l4lb_bench dataplane --quick
"""

from __future__ import annotations

from l4lb_bench.cli import main, register, run

__all__ = ["main", "register", "run"]
