"""The IPv6 service index in the kernel: services that hash to one bucket of
`svc6` fill its slots in turn and are each found by the program (so the
control plane's bucket hash agrees with the data plane's), a fifth is
refused in one error changing nothing, and a freed slot in the middle
neither hides the slots after it nor stays lost."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from l4lb_tui import abi6, bpfsys
from l4lb_tui.abi import Reason, ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.destinations import Destination
from l4lb_tui.errors import BalancerError
from tests.conftest import veth_netns
from tests.dataplane.test_packets6 import VIP6, udp6

pytestmark = pytest.mark.kernel

UDP = 17


def colliding_ports(count: int) -> list[int]:
    """UDP ports whose services share one svc6 bucket on VIP6."""
    by_bucket: dict[int, list[int]] = {}
    for port in range(1000, 60000):
        ports = by_bucket.setdefault(abi6.svc6_bucket(VIP6, port, UDP), [])
        ports.append(port)
        if len(ports) == count:
            return ports
    raise AssertionError("no bucket with enough ports")


PORTS = colliding_ports(6)
# One backend per service: the outer destination says which service balanced.
BACKEND = {
    p: Destination(f"fd00::2:{i + 1}", f"02:00:00:00:02:{i + 1:02x}") for i, p in enumerate(PORTS)
}


@pytest.fixture
def bal() -> Iterator[tuple[Balancer, int]]:
    with veth_netns("v17") as (ns, dev, _):
        b = Balancer(dev, netns=ns)
        b.attach("driver", saddr6="fd00::1")
        fd = bpfsys.obj_get(b.prog_pin)
        try:
            yield b, fd
        finally:
            os.close(fd)
            b.detach()


def outer_destination(fd: int, port: int) -> str:
    out = bpfsys.test_run(fd, udp6(dport=port))
    assert out.verdict == "XDP_TX", (port, out.verdict)
    return abi6.ip6_text(out.data[38:54])


def reason(b: Balancer, fd: int, port: int) -> tuple[str, Reason]:
    before = b.counters().reasons
    verdict = bpfsys.test_run(fd, udp6(dport=port)).verdict
    after = b.counters().reasons
    (moved,) = [r for r in Reason if after[r][0] != before[r][0]]
    return verdict, moved


def test_one_bucket_holds_four_services_each_found(bal: tuple[Balancer, int]) -> None:
    b, fd = bal
    first4, fifth, sixth = PORTS[:4], PORTS[4], PORTS[5]
    # The VIP's marker lives in another bucket (port 0, protocol 0).
    assert abi6.svc6_bucket(VIP6, 0, 0) != abi6.svc6_bucket(VIP6, first4[0], UDP)
    for port in first4:
        b.load([ServiceKey(VIP6, port, UDP)], [BACKEND[port]])
    for port in first4:
        assert outer_destination(fd, port) == BACKEND[port].ip

    before = b.state()
    with pytest.raises(BalancerError, match="bucket of the IPv6 service index"):
        b.load([ServiceKey(VIP6, fifth, UDP)], [BACKEND[fifth]])
    assert b.state().services == before.services, "nothing changed"
    assert reason(b, fd, fifth) == ("XDP_PASS", Reason.PASS_NO_SERVICE)

    # A hole in the middle of the bucket: the slots after it are still found,
    # and the next service of the bucket takes the hole.
    b.remove_service(ServiceKey(VIP6, first4[1], UDP))
    assert reason(b, fd, first4[1]) == ("XDP_PASS", Reason.PASS_NO_SERVICE)
    for port in (first4[0], first4[2], first4[3]):
        assert outer_destination(fd, port) == BACKEND[port].ip
    b.load([ServiceKey(VIP6, sixth, UDP)], [BACKEND[sixth]])
    assert outer_destination(fd, sixth) == BACKEND[sixth].ip
    assert {s.key.port for s in b.state().services} == {first4[0], *first4[2:], sixth}
