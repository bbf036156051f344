"""BGP for scale-out: BIRD 2 speakers (the adapter, `bird.py`), their
configuration text (`birdconf.py`) and what birdc prints (`birdshow.py`)."""

from __future__ import annotations

from l4lb_tui.bgp.bird import BirdError, Speaker
from l4lb_tui.bgp.birdconf import Bfd, NodeConf, Peer, RouterConf, Timers
from l4lb_tui.bgp.birdshow import Protocol, Route

__all__ = [
    "Bfd",
    "BirdError",
    "NodeConf",
    "Peer",
    "Protocol",
    "Route",
    "RouterConf",
    "Speaker",
    "Timers",
]
