"""The control plane's one error type, shared by the modules it is split into."""

from __future__ import annotations


class BalancerError(Exception):
    """A request the balancer cannot carry out; the message says what to do."""
