"""The one exception the benchmarks raise for an operator to read."""

from __future__ import annotations


class BenchError(Exception):
    """A benchmark could not run; the message says why, in the tool's words."""
