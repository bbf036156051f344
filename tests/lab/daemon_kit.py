"""What the lab's daemon tests share: the health timing they configure, a
daemon started on the lab's config and stopped as systemd stops it, and
the metrics endpoint read for the backends it calls up."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from prometheus_client.parser import text_string_to_metric_families

from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.lab import Lab, faults
from l4lb_tui.lab.labconfig import lab_config
from tests.killed_reload import ROOT, kill_group

INTERVAL, TIMEOUT, RISE, FALL = 0.3, 0.2, 2, 2
SLACK = 1.5  # scheduling on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(ok: Callable[[], object], seconds: float, what: str) -> float:
    """Seconds until `ok()` held; AssertionError naming `what` past `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if ok():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {seconds} s")


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM as systemd stops it (the daemon closes its probe tunnel), the
    group killed only if it does not end."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_group(proc)


def up(port: int) -> set[tuple[str, str]]:
    """(service, backend) of every backend the metrics call up."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            data = b"".join(iter(lambda: s.recv(65536), b""))
    except OSError:
        return set()
    text = data.partition(b"\r\n\r\n")[2].decode()
    return {
        (s.labels["service"], s.labels["backend"])
        for fam in text_string_to_metric_families(text)
        if fam.name == "l4lb_backend_up"
        for s in fam.samples
        if s.value == 1
    }


@contextlib.contextmanager
def lab_daemon(
    lab: Lab, cfg: Path, *, ipv6: bool = False, journal: IO[str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], Balancer, int]]:
    """A daemon on lab_config (HTTP and UDP, IPv6's too with `ipv6`), its
    checks at the timing above, once every backend is up: (process,
    balancer, metrics port).  After: stopped, every backend mended, the
    balancer detached (unless a test moved its link away)."""
    port = free_port()
    metrics = f"127.0.0.1:{port}"
    cfg.write_text(
        lab_config(
            lab, metrics=metrics, ipv6=ipv6, interval=INTERVAL, timeout=TIMEOUT, rise=RISE,
            fall=FALL,
        )
    )  # fmt: skip
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "daemon", "-c", str(cfg)],
        cwd=ROOT, stderr=journal or subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    bal = Balancer(lab.lb_ifname, netns=lab.lb_ns)
    backends = 3 * (4 if ipv6 else 2)
    try:
        wait_for(lambda: bal.is_loaded() and len(up(port)) == backends, 20, "every backend up")
        yield proc, bal, port
    finally:
        stop(proc)
        for i in range(1, 4):
            faults.fix_backend(lab, i)
        with contextlib.suppress(BalancerError):
            Balancer(lab.lb_ifname, netns=lab.lb_ns).detach()
