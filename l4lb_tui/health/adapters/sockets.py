"""Probe sockets: TCP connects, HTTP GETs and UDP requests, non-blocking, on one epoll.

Each check keeps its socket for as long as it is checked.  A TCP probe
connects, and its verdict resets the connection with connect(AF_UNSPEC),
which leaves the socket ready for the next probe: no socket to allocate, no
descriptor to register and no TIME_WAIT per probe, which is most of what a
connect costs besides the handshake itself.  The reset is a RST, as HAProxy
ends its checks: the backend keeps no half-closed connection.  A UDP probe
keeps one connected socket, so an ICMP port unreachable reads as "refused".

Through the tunnel a socket carries the tunnel's mark and is bound to its
source address (the port is still picked per connection).

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
from l4lb_tui.health.model import CheckKey, Probe, ProbeResult

# Not in Python 3.11's socket module: bind the address now, the port at connect.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
_LINGER_RESET = struct.pack("ii", 1, 0)
_IN = select.EPOLLIN | select.EPOLLONESHOT
_OUT = select.EPOLLOUT | select.EPOLLONESHOT
_CONNECTING, _SENDING, _READING = 0, 1, 2
_libc = ctypes.CDLL(None, use_errno=True)
# struct sockaddr of family AF_UNSPEC: connect() to it disconnects a TCP socket.
_UNSPEC = (ctypes.c_ubyte * 16)()
_UDP_MAX = 65535


class SocketError(Exception):
    """The prober itself could not work (epoll, descriptors); the kernel's words."""


class _Session:
    """One check's socket and the probe in flight on it."""

    __slots__ = ("buf", "busy", "fd", "phase", "probe", "registered", "sock", "started")

    def __init__(self, probe: Probe, sock: socket.socket) -> None:
        self.probe = probe
        self.sock = sock
        self.fd = sock.fileno()
        self.busy = False
        self.registered = False
        self.phase = _CONNECTING
        self.started = 0.0
        self.buf = b""


class ProbeSockets:
    """Start probes, learn when they end.  One thread uses it (plus `wake`)."""

    def __init__(self) -> None:
        try:
            self._epoll = select.epoll()
            self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        except OSError as exc:
            raise SocketError(f"epoll: {exc.strerror}") from exc
        self._epoll.register(self._wake_fd, select.EPOLLIN)
        self._sessions: dict[CheckKey, _Session] = {}
        self._by_fd: dict[int, _Session] = {}
        self._done: list[ProbeResult] = []

    def start(self, probe: Probe, now: float) -> None:
        """Begin `probe` (its check must have none in flight); the result
        comes from `poll`, or `expire` when its time is up."""
        session = self._sessions.get(probe.key)
        if session is not None and session.probe is not probe and session.probe != probe:
            self.drop(probe.key)
            session = None
        if session is None:
            try:
                session = self._open(probe)
            except SocketError as exc:
                self._done.append(_result(probe, now, False, f"prober: {exc}", now))
                return
        session.busy = True
        session.started = now
        if probe.kind == "udp":
            self._send_datagram(session)
        else:
            self._connect(session)

    def in_flight(self, key: CheckKey) -> bool:
        session = self._sessions.get(key)
        return session is not None and session.busy

    def expire(self, key: CheckKey, now: float) -> ProbeResult | None:
        """End the probe in flight for `key` as timed out; None if there is none."""
        session = self._sessions.get(key)
        if session is None or not session.busy:
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
        for fd, _ in events:
            session = self._by_fd.get(fd)
            if session is not None and session.busy:
                self._advance(session, now)
            elif fd == self._wake_fd:
                with contextlib.suppress(BlockingIOError):
                    os.eventfd_read(self._wake_fd)
        done, self._done = self._done, []
        return done

    def wake(self) -> None:
        """Make a `poll` in another thread return now."""
        os.eventfd_write(self._wake_fd, 1)

    def drop(self, key: CheckKey) -> None:
        """Forget a check and close its socket (a probe in flight gives no result)."""
        session = self._sessions.pop(key, None)
        if session is not None:
            self._by_fd.pop(session.fd, None)
            if session.registered:
                self._epoll.unregister(session.fd)
            session.sock.close()

    def close(self) -> None:
        for key in list(self._sessions):
            self.drop(key)
        self._epoll.close()
        os.close(self._wake_fd)

    def __len__(self) -> int:
        return len(self._sessions)

    # Sockets

    def _open(self, probe: Probe) -> _Session:
        kind = socket.SOCK_DGRAM if probe.kind == "udp" else socket.SOCK_STREAM
        try:
            sock = socket.socket(socket.AF_INET, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        except OSError as exc:
            raise SocketError(f"cannot open a socket: {exc.strerror}") from exc
        try:
            if probe.mark:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, probe.mark)
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            if probe.source:
                sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                sock.bind((probe.source, 0))
            if kind == socket.SOCK_DGRAM:
                sock.connect((probe.address, probe.port))
        except OSError as exc:
            sock.close()
            raise SocketError(f"socket for {probe.address}:{probe.port}: {exc.strerror}") from exc
        session = _Session(probe, sock)
        self._sessions[probe.key] = session
        self._by_fd[session.fd] = session
        return session

    def _arm(self, session: _Session, events: int) -> None:
        if session.registered:
            self._epoll.modify(session.fd, events)
        else:
            self._epoll.register(session.fd, events)
            session.registered = True

    def _connect(self, session: _Session) -> None:
        probe = session.probe
        session.phase = _CONNECTING
        session.buf = b""
        err = session.sock.connect_ex((probe.address, probe.port))
        if err in (0, errno.EINPROGRESS):
            self._arm(session, _OUT)
        else:
            self._finish(session, False, errno_detail(err), time.monotonic())

    def _send_datagram(self, session: _Session) -> None:
        sock = session.sock
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
            return
        self._arm(session, _IN)

    # Progress

    def _advance(self, session: _Session, now: float) -> None:
        kind = session.probe.kind
        if kind == "udp":
            self._read_datagram(session, now)
        elif session.phase == _CONNECTING:
            err = session.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._finish(session, False, errno_detail(err), now)
            elif kind == "tcp":
                self._finish(session, True, "connected", now)
            else:
                self._send_request(session, now)
        else:
            self._read_response(session, now)

    def _send_request(self, session: _Session, now: float) -> None:
        try:
            # A request is far smaller than a fresh connection's send buffer.
            session.sock.send(session.probe.request)
        except OSError as exc:
            self._finish(session, False, errno_detail(exc.errno or 0), now)
            return
        session.phase = _READING
        self._arm(session, _IN)

    def _read_response(self, session: _Session, now: float) -> None:
        probe = session.probe
        try:
            data = session.sock.recv(MAX_RESPONSE - len(session.buf))
        except BlockingIOError:
            self._arm(session, _IN)
            return
        except OSError as exc:
            self._finish(session, False, errno_detail(exc.errno or 0), now)
            return
        session.buf += data
        verdict = http_verdict(session.buf, not data, probe.status, probe.expect)
        if verdict is None:
            self._arm(session, _IN)
        else:
            self._finish(session, verdict[0], verdict[1], now)

    def _read_datagram(self, session: _Session, now: float) -> None:
        try:
            reply = session.sock.recv(_UDP_MAX)
        except BlockingIOError:
            self._arm(session, _IN)
            return
        except OSError as exc:
            self._finish(session, False, errno_detail(exc.errno or 0), now)
            return
        ok, detail = udp_verdict(reply, session.probe.expect)
        self._finish(session, ok, detail, now)

    def _finish(self, session: _Session, ok: bool, detail: str, now: float) -> None:
        session.busy = False
        session.buf = b""
        if session.probe.kind != "udp" and _libc.connect(session.fd, _UNSPEC, 16) != 0:
            # Not reusable after all: the next probe opens a fresh socket.
            self.drop(session.probe.key)
        self._done.append(_result(session.probe, session.started, ok, detail, now))


def _result(probe: Probe, started: float, ok: bool, detail: str, now: float) -> ProbeResult:
    return ProbeResult(
        key=probe.key,
        target=probe.target,
        ok=ok,
        latency=max(now - started, 0.0),
        detail=detail,
        started=started,
    )
