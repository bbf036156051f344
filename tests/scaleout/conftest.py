"""One scale-out lab (3 nodes behind a BIRD router) for a whole module,
and keep-alive HTTP connections from its client, held by this process."""

from __future__ import annotations

import http.client
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest

from l4lb_tui.lab import names
from l4lb_tui.lab.scaleout import ScaleLab

# Between a connection's requests: enough traffic to see every move, little
# enough CPU that BFD's 100 ms packets are never starved on two cores.
REQUEST_GAP = 0.1


def scale_lab(tag: str) -> Iterator[ScaleLab]:
    """A 3-node lab named `tag` and three hex digits, up for as long as it is held."""
    lab = ScaleLab(f"{tag}{uuid.uuid4().hex[:3]}", nodes=3, backends=3)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def scale() -> Iterator[ScaleLab]:
    yield from scale_lab("h16s")


class Conn(threading.Thread):
    """One keep-alive connection from the client to the VIP (or `vip`, say
    the IPv6 one), asking GET after GET until told to stop; it notes the
    backend that answers."""

    def __init__(self, lab: ScaleLab, stop: threading.Event, vip: str | None = None) -> None:
        super().__init__(daemon=True)
        vip = vip or lab.vip
        family = socket.AF_INET6 if ":" in vip else socket.AF_INET
        sock = lab.base.socket(lab.client.ns, family)
        sock.settimeout(5.0)
        sock.connect((vip, names.HTTP_PORT))
        self.http = http.client.HTTPConnection(vip, names.HTTP_PORT, timeout=5.0)
        self.http.sock = sock
        self.stop = stop
        self.backends: list[str] = []
        self.error = ""
        self.requests = 0

    def get(self) -> str:
        self.http.request("GET", "/")
        resp = self.http.getresponse()
        body = resp.read().decode(errors="replace").strip()
        if resp.status != 200:
            raise http.client.HTTPException(f"status {resp.status}")
        return body

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                who = self.get()
                self.requests += 1
                if not self.backends or self.backends[-1] != who:
                    self.backends.append(who)
                self.stop.wait(REQUEST_GAP)
        except (OSError, http.client.HTTPException) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.http.close()

    @property
    def survived(self) -> bool:
        return not self.error and len(self.backends) == 1


class Conns:
    def __init__(self, lab: ScaleLab, count: int, count6: int = 0) -> None:
        """`count` connections to the IPv4 VIP, `count6` to the IPv6 one."""
        self.stop = threading.Event()
        self.all = [Conn(lab, self.stop) for _ in range(count)]
        self.all += [Conn(lab, self.stop, lab.vip6) for _ in range(count6)]
        for c in self.all:
            c.start()

    def finish(self) -> list[Conn]:
        self.stop.set()
        for c in self.all:
            c.join(15)
        return self.all


def summary(conns: list[Conn]) -> str:
    broken = [c for c in conns if not c.survived]
    said = "; ".join(sorted({c.error or f"moved {c.backends}" for c in broken}))[:300]
    return f"{len(conns) - len(broken)}/{len(conns)} survived" + (f" ({said})" if said else "")
