"""The metrics endpoint: an HTTP server on the address the config names
(loopback by default), serving the text a provider renders per scrape."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus text format


class MetricsServerError(Exception):
    """The metrics address cannot be served (taken, not ours, malformed)."""


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise MetricsServerError(f"metrics listen {listen!r}: expected ADDRESS:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def serve(listen: str, render: Callable[[], str]) -> ThreadingHTTPServer:
    """Serve `render()` at /metrics (and /) on `listen`, from a thread of
    its own; the caller shuts the server down."""

    class Handler(BaseHTTPRequestHandler):
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
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise MetricsServerError(f"cannot serve metrics on {listen}: {exc.strerror}") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
