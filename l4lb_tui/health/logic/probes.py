"""What a check sends and how its answer is judged: probes built from a
service's HealthSpec, the HTTP request, and verdicts on HTTP responses and UDP
replies.  Pure: the sockets are in `health.adapters.sockets`."""

from __future__ import annotations

import errno
import os

from l4lb_tui.config_model import CHECK_KINDS, HealthSpec
from l4lb_tui.health.model import CheckKey, Probe, Target

# Enough for any status line and headers; a body check reads no further.
MAX_RESPONSE = 65536
USER_AGENT = "l4lb-health"

# A verdict: passed or not, and what was seen.
Verdict = tuple[bool, str]


def check_port(spec: HealthSpec, service_port: int) -> int:
    """The port probed: the check's own, else the service's."""
    port = spec.port or service_port
    if not 0 < port < 65536:
        raise ValueError("a check of a service on every port needs a port of its own")
    return port


def build_probe(
    key: CheckKey,
    spec: HealthSpec,
    vip: str,
    service_port: int,
    target: Target,
    *,
    mark: int = 0,
    source: str = "",
) -> Probe:
    """The probe of backend `key.backend` of the service at `vip`.

    `source` is the prober's address: one of this host's, not a VIP, since a
    backend holds the VIPs and would keep answers to a VIP for itself.
    Through the tunnel the probe is addressed to the VIP and carries the
    tunnel's `mark` for that backend (`ProbeTunnel.marks()`).
    """
    if spec.check not in CHECK_KINDS:
        raise ValueError(f"unknown check {spec.check!r}: one of {', '.join(CHECK_KINDS)}")
    if spec.interval <= 0 or spec.timeout <= 0:
        raise ValueError("interval and timeout must be more than 0 seconds")
    if target is Target.TUNNEL and not (mark and source):
        raise ValueError("a probe through the tunnel needs the tunnel's mark and source")
    port = check_port(spec, service_port)
    request = b""
    expect = b""
    if spec.check == "http":
        request = http_request(spec.path, vip, port)
        expect = spec.body.encode()
    elif spec.check == "udp":
        request = spec.send.encode()
        expect = spec.expect.encode()
    return Probe(
        key=key,
        kind=spec.check,
        target=target,
        address=vip if target is Target.TUNNEL else key.backend,
        port=port,
        interval=spec.interval,
        timeout=spec.timeout,
        mark=mark if target is Target.TUNNEL else 0,
        source=source,
        request=request,
        status=spec.status,
        expect=expect,
    )


def http_request(path: str, vip: str, port: int) -> bytes:
    """A GET for `path` of the virtual host the clients ask for (the VIP)."""
    if not path.startswith("/") or any(c in path for c in " \r\n"):
        raise ValueError(f"bad HTTP path {path!r}: it starts with / and has no spaces")
    name = f"[{vip}]" if ":" in vip else vip  # RFC 3986: an IPv6 literal in brackets
    host = name if port == 80 else f"{name}:{port}"
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode()


def http_verdict(data: bytes, eof: bool, status: int, body: bytes) -> Verdict | None:
    """The verdict on the response read so far, or None while more may come.

    The body is searched as it arrives on the wire (a chunked body's chunk
    sizes included), within the first MAX_RESPONSE bytes.
    """
    full = eof or len(data) >= MAX_RESPONSE
    line_end = data.find(b"\r\n")
    if line_end < 0:
        if not full:
            return None
        return False, "closed without answering" if not data else "no HTTP status line"
    code = _status_code(data[:line_end])
    if code is None:
        return False, "no HTTP status line"
    if code != status:
        return False, f"HTTP {code}, expected {status}"
    if not body:
        return True, f"HTTP {code}"
    head_end = data.find(b"\r\n\r\n")
    if head_end >= 0 and body in data[head_end + 4 :]:
        return True, f"HTTP {code}"
    if full:
        return False, f"HTTP {code}, body lacks {body.decode(errors='replace')!r}"
    return None


def _status_code(line: bytes) -> int | None:
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        return None
    code = parts[1]
    return int(code) if len(code) == 3 and code.isdigit() else None


def udp_verdict(reply: bytes, expect: bytes) -> Verdict:
    if expect in reply:
        return True, "replied"
    return False, f"reply lacks {expect.decode(errors='replace')!r}"


_ERRNO_WORDS = {
    errno.ECONNREFUSED: "refused",
    errno.ECONNRESET: "reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "timed out",
}


def errno_detail(code: int) -> str:
    """A socket error in a few words: what the kernel saw of the backend."""
    return _ERRNO_WORDS.get(code) or os.strerror(code).lower()


def timeout_detail(timeout: float) -> str:
    return f"no answer in {timeout:g} s"
