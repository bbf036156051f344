"""systemd's readiness protocol (sd_notify), without libsystemd: one
datagram to $NOTIFY_SOCKET.  Nothing happens outside systemd."""

from __future__ import annotations

import contextlib
import os
import socket


def notify(state: str) -> None:
    """Tell systemd `state` (READY=1, RELOADING=1, STOPPING=1, STATUS=...)."""
    where = os.environ.get("NOTIFY_SOCKET")
    if not where:
        return
    address = "\0" + where[1:] if where.startswith("@") else where
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(state.encode(), address)
