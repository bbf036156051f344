"""A real balancer program, loaded and configured, for packet fixtures."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from l4lb_tui import bpfsys
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination
from l4lb_tui.model import Counters
from l4lb_tui.services import parse_service
from tests.conftest import veth_netns
from tests.dataplane.identkit import Namespaces

BACKENDS = (
    Destination("10.0.0.11", "02:00:00:00:00:0b"),
    Destination("10.0.0.12", "02:00:00:00:00:0c"),
    Destination("10.0.0.13", "02:00:00:00:00:0d"),
)
SERVICES = ("10.0.0.4:8080/tcp", "10.0.0.4:9000/udp", "10.0.0.5")
SADDR = "10.0.0.1"


@dataclass
class Loaded:
    balancer: Balancer
    prog_fd: int
    ifmac: str

    def run(self, frame: bytes) -> bpfsys.RunResult:
        return bpfsys.test_run(self.prog_fd, frame)

    def counters(self) -> Counters:
        return self.balancer.counters()


@pytest.fixture
def spaces() -> Iterator[Namespaces]:
    """The identity tests' namespaces (identkit), removed after the test."""
    made = Namespaces()
    try:
        yield made
    finally:
        made.remove()


@pytest.fixture(scope="module")
def lb(netns_veth: tuple[str, str, str]) -> Iterator[Loaded]:
    ns, dev, _ = netns_veth
    bal = Balancer(dev, netns=ns)
    bal.attach("driver", SADDR)
    services = [k for spec in SERVICES for k in parse_service(spec)]
    bal.load(services, BACKENDS)
    fd = bpfsys.obj_get(bal.prog_pin)
    try:
        yield Loaded(bal, fd, bal.link().mac)
    finally:
        os.close(fd)
        bal.detach()


@contextlib.contextmanager
def attached(
    prefix: str, saddr6: str | None = None, flows: int | None = None
) -> Iterator[tuple[Balancer, int]]:
    """A balancer attached in driver mode to a veth of its own namespace
    (its flow table `flows` slots), and its program's fd for
    BPF_PROG_TEST_RUN; detached afterwards."""
    with veth_netns(prefix) as (ns, dev, _):
        bal = Balancer(dev, netns=ns)
        bal.attach("driver", saddr6=saddr6, flows=flows)
        fd = bpfsys.obj_get(bal.prog_pin)
        try:
            yield bal, fd
        finally:
            os.close(fd)
            bal.detach()
