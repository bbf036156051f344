"""Probe sockets: TCP connects, HTTP GETs and UDP requests, non-blocking, on one epoll.

Each check keeps its socket for as long as it is checked, registered once,
edge-triggered.  A TCP probe connects, and its verdict resets the connection
with connect(AF_UNSPEC), which leaves the socket ready for the next probe: no
socket to allocate, no descriptor to register and no TIME_WAIT per probe,
which is most of what a connect costs besides the handshake itself.  The
reset is a RST, as HAProxy ends its checks: the backend keeps no half-closed
connection.  A UDP probe keeps one connected socket, so an ICMP port
unreachable reads as "refused".

epoll reports what a socket's state says when it is read, not what it said
when it changed, so an edge left over from a previous probe can never pass
for this one's answer.

Through the tunnel a socket carries the tunnel's mark; it is bound to the
prober's source address when there is one (the port is still picked per
connection).

Probe failures are results, never exceptions; SocketError is for the prober's
own trouble (no epoll, no descriptors left), reported as a failed result of
the probe it hit, "prober: ...", so that it is seen.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import socket
import struct
import time

from l4lb_tui.health.logic.probes import (
    MAX_RESPONSE,
    errno_detail,
    http_verdict,
    timeout_detail,
    udp_verdict,
)
from l4lb_tui.health.model import Probe, ProbeResult

# Not in Python 3.11's socket module: bind the address now, the port at connect.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
_LINGER_RESET = struct.pack("ii", 1, 0)
_TCP_EVENTS = select.EPOLLIN | select.EPOLLOUT | select.EPOLLET
_UDP_EVENTS = select.EPOLLIN | select.EPOLLET
_TROUBLE = select.EPOLLERR | select.EPOLLHUP
_CONNECTING, _READING = 0, 1
_UDP_MAX = 65535
# connect() to a sockaddr of family AF_UNSPEC disconnects a TCP socket.  A
# PyDLL call keeps the GIL (the disconnect is short): one lock round less.
_UNSPEC = (ctypes.c_ubyte * 16)()
_disconnect = ctypes.PyDLL(None).connect
_disconnect.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint)
_disconnect.restype = ctypes.c_int
_UNSPEC_ADDRESS = ctypes.addressof(_UNSPEC)


class SocketError(Exception):
    """The prober itself could not work (epoll, descriptors); the kernel's words."""


class Session:
    """One check's socket and the probe in flight on it (`busy`)."""

    __slots__ = ("buf", "busy", "fd", "phase", "probe", "sock", "started")

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.sock: socket.socket | None = None
        self.fd = -1
        self.busy = False
        self.phase = _CONNECTING
        self.started = 0.0
        self.buf = b""


class ProbeSockets:
    """Start probes, learn when they end.  One thread uses it (plus `wake`).

    A check is a Session (`open`); its socket is made at its first probe and
    kept until `close_session`.
    """

    def __init__(self) -> None:
        try:
            self._epoll = select.epoll()
            self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        except OSError as exc:
            raise SocketError(f"epoll: {exc.strerror}") from exc
        self._epoll.register(self._wake_fd, select.EPOLLIN)
        self._by_fd: dict[int, Session] = {}
        self._done: list[ProbeResult] = []

    def open(self, probe: Probe) -> Session:
        return Session(probe)

    def start(self, session: Session, now: float) -> None:
        """Begin the session's probe (none may be in flight); the result comes
        from `poll`, or from `expire` when its time is up."""
        sock = session.sock
        if sock is None:
            try:
                sock = self._make_socket(session)
            except SocketError as exc:
                self._done.append(_result(session.probe, now, False, f"prober: {exc}", now))
                return
        session.busy = True
        session.started = now
        probe = session.probe
        if probe.kind == "udp":
            self._send_datagram(session, sock)
            return
        session.phase = _CONNECTING
        err = sock.connect_ex((probe.address, probe.port))
        if err and err != errno.EINPROGRESS:
            self._finish(session, False, errno_detail(err), time.monotonic())

    def expire(self, session: Session, now: float) -> ProbeResult | None:
        """End the session's probe as timed out; None if none is in flight."""
        if not session.busy:
            return None
        self._finish(session, False, timeout_detail(session.probe.timeout), now)
        return self._done.pop()

    def poll(self, timeout: float) -> list[ProbeResult]:
        """Wait up to `timeout` seconds for sockets (or `wake`); the probes that ended."""
        try:
            events = self._epoll.poll(max(timeout, 0.0))
        except InterruptedError:
            events = []
        now = time.monotonic()
        by_fd = self._by_fd
        for fd, mask in events:
            session = by_fd.get(fd)
            if session is not None:
                sock = session.sock
                if session.busy and sock is not None:
                    self._advance(session, sock, mask, now)
            elif fd == self._wake_fd:
                with contextlib.suppress(BlockingIOError):
                    os.eventfd_read(self._wake_fd)
        done, self._done = self._done, []
        return done

    def wake(self) -> None:
        """Make a `poll` in another thread return now."""
        os.eventfd_write(self._wake_fd, 1)

    def close_session(self, session: Session) -> None:
        """Close the check's socket (a probe in flight gives no result)."""
        session.busy = False
        sock, session.sock = session.sock, None
        if sock is not None:
            self._by_fd.pop(session.fd, None)
            self._epoll.unregister(session.fd)
            sock.close()

    def close(self) -> None:
        for session in list(self._by_fd.values()):
            self.close_session(session)
        self._epoll.close()
        os.close(self._wake_fd)

    def __len__(self) -> int:
        return len(self._by_fd)

    # Sockets

    def _make_socket(self, session: Session) -> socket.socket:
        probe = session.probe
        kind = socket.SOCK_DGRAM if probe.kind == "udp" else socket.SOCK_STREAM
        family = socket.AF_INET6 if ":" in probe.address else socket.AF_INET
        try:
            sock = socket.socket(family, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        except OSError as exc:
            raise SocketError(f"cannot open a socket: {exc.strerror}") from exc
        try:
            if probe.mark:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, probe.mark)
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            if probe.source:
                # IPPROTO_IP's options apply to IPv6 sockets too (Linux).
                sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                sock.bind((probe.source, 0))
            if kind == socket.SOCK_DGRAM:
                sock.connect((probe.address, probe.port))
            self._epoll.register(sock.fileno(), _UDP_EVENTS if probe.kind == "udp" else _TCP_EVENTS)
        except OSError as exc:
            sock.close()
            raise SocketError(f"socket for {probe.address}:{probe.port}: {exc.strerror}") from exc
        session.sock = sock
        session.fd = sock.fileno()
        self._by_fd[session.fd] = session
        return sock

    def _send_datagram(self, session: Session, sock: socket.socket) -> None:
        try:
            # Replies to earlier probes that timed out must not answer this one.
            while True:
                sock.recv(_UDP_MAX)
        except BlockingIOError:
            pass
        except OSError:
            pass  # an ICMP error for an earlier probe: reported once, now consumed
        try:
            sock.send(session.probe.request)
        except OSError as exc:
            self._finish(session, False, errno_detail(exc.errno or 0), time.monotonic())

    # Progress

    def _advance(self, session: Session, sock: socket.socket, mask: int, now: float) -> None:
        kind = session.probe.kind
        if kind == "udp":
            self._read_datagram(session, sock, now)
        elif session.phase == _CONNECTING:
            if mask & _TROUBLE:
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                self._finish(session, False, errno_detail(err or errno.ECONNRESET), now)
            elif not mask & select.EPOLLOUT:
                return  # not connected yet: an edge of an earlier probe
            elif kind == "tcp":
                self._finish(session, True, "connected", now)
            else:
                self._send_request(session, sock, now)
        else:
            self._read_response(session, sock, now)

    def _send_request(self, session: Session, sock: socket.socket, now: float) -> None:
        try:
            # A request is far smaller than a fresh connection's send buffer.
            sock.send(session.probe.request)
        except OSError as exc:
            self._finish(session, False, errno_detail(exc.errno or 0), now)
            return
        session.phase = _READING
        # The answer may be in already: its edge came with the connect's.
        self._read_response(session, sock, now)

    def _read_response(self, session: Session, sock: socket.socket, now: float) -> None:
        probe = session.probe
        while True:  # edge-triggered: read until there is nothing more
            try:
                data = sock.recv(MAX_RESPONSE - len(session.buf))
            except BlockingIOError:
                return
            except OSError as exc:
                self._finish(session, False, errno_detail(exc.errno or 0), now)
                return
            session.buf += data
            verdict = http_verdict(session.buf, not data, probe.status, probe.expect)
            if verdict is not None:
                self._finish(session, verdict[0], verdict[1], now)
                return

    def _read_datagram(self, session: Session, sock: socket.socket, now: float) -> None:
        try:
            reply = sock.recv(_UDP_MAX)
        except BlockingIOError:
            return
        except OSError as exc:
            self._finish(session, False, errno_detail(exc.errno or 0), now)
            return
        ok, detail = udp_verdict(reply, session.probe.expect)
        self._finish(session, ok, detail, now)

    def _finish(self, session: Session, ok: bool, detail: str, now: float) -> None:
        session.busy = False
        session.buf = b""
        probe = session.probe
        if probe.kind != "udp" and _disconnect(session.fd, _UNSPEC_ADDRESS, 16) != 0:
            # Not reusable after all: the next probe opens a fresh socket.
            self.close_session(session)
        started = session.started
        latency = now - started if now > started else 0.0
        self._done.append(ProbeResult(probe.key, probe.target, ok, latency, detail, started))


def _result(probe: Probe, started: float, ok: bool, detail: str, now: float) -> ProbeResult:
    latency = now - started if now > started else 0.0
    return ProbeResult(probe.key, probe.target, ok, latency, detail, started)
