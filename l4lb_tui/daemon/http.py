"""The metrics endpoint: an HTTP server on the address the config names
(loopback by default), serving the text a provider renders per scrape.

Every connection costs the daemon a thread and a file descriptor, so a
client that connects and says nothing must not keep them: each connection
has a read timeout, and only a few are served at once (the rest are closed
at once, not queued).  Otherwise idle connections from any local user
exhaust the daemon's descriptors and its health verdicts fail.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus text format
READ_TIMEOUT = 5.0  # seconds a connection may stay silent (or not read) before it is closed
MAX_CLIENTS = 8  # connections served at once; a scraper needs one


class MetricsServerError(Exception):
    """The metrics address cannot be served (taken, not ours, malformed)."""


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise MetricsServerError(f"metrics listen {listen!r}: expected ADDRESS:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


class BoundedServer(ThreadingHTTPServer):
    """A thread per connection, but at most MAX_CLIENTS of them."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.slots = threading.BoundedSemaphore(MAX_CLIENTS)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: closed now, never a queue that grows
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()  # no thread was started to release it
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away is not the daemon's error


def serve(listen: str, render: Callable[[], str]) -> BoundedServer:
    """Serve `render()` at /metrics (and /) on `listen`, from a thread of
    its own; the caller shuts the server down."""

    class Handler(BaseHTTPRequestHandler):
        timeout = READ_TIMEOUT

        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/", "/metrics"):
                self.send_error(404)
                return
            try:
                body = render().encode()
            except Exception as exc:  # a scrape must never take the daemon down
                self.send_error(500, str(exc)[:200])
                return
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes are not events

    host, port = parse_listen(listen)
    try:
        server = BoundedServer((host, port), Handler)
    except OSError as exc:
        raise MetricsServerError(f"cannot serve metrics on {listen}: {exc.strerror}") from None
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
