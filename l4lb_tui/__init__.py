"""l4lb-tui: an XDP layer-4 load balancer and its terminal operator console."""

__version__ = "0.1.0"
