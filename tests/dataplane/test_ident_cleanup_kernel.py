"""What `detach` removes and says, what `attach` says it changed, names the
kernel allows, and the console after a rename (issue 12, the tester's F6,
F10, F12, F13 and F14).  Real links in namespaces of the test's own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui import backend_edits
from l4lb_tui.balancer import Balancer
from l4lb_tui.bpftool import Bpftool
from l4lb_tui.console_kernel import RealBackend
from l4lb_tui.netlink import Netlink
from l4lb_tui.services import parse_service
from tests.conftest import run
from tests.dataplane.identkit import (
    Namespaces,
    as_legacy,
    attached_prog,
    csv,
    l4lb,
    ok,
    refused,
    stats,
)

pytestmark = pytest.mark.kernel

VIP = "10.0.0.4:9000/udp"


@pytest.fixture
def not_a_namespace(spaces: Namespaces) -> Iterator[Path]:
    """A name under /run/netns with no namespace on it: the mode-000 file an
    interrupted `ip netns add` leaves."""
    path = Path("/run/netns") / f"{spaces.tag}bad"
    path.touch()
    os.chmod(path, 0)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def test_stale_survives_what_is_no_namespace_and_says_what_it_keeps(
    spaces: Namespaces, not_a_namespace: Path
) -> None:
    """F6, F12: a file under /run/netns is skipped and named; --dry-run
    changes nothing; -i keeps to one name in one namespace; every balancer
    kept is listed with why."""
    live, gone, bare, dev = spaces.add("l"), spaces.add("g"), spaces.add("b"), spaces.dev
    for ns in (live, gone, bare):
        ok(l4lb("attach", "-i", dev, ns=ns))
    pins = {ns: Balancer(dev, netns=ns).pin_dir for ns in (live, gone, bare)}
    run(["ip", "netns", "del", gone])
    run(["ip", "-n", bare, "link", "del", dev])
    skipped = f"skipped {not_a_namespace}: not a network namespace"
    kept = f"kept {pins[live]}: runs on {dev} in network namespace {live}"

    out = ok(l4lb("detach", "--stale", "--dry-run"))
    assert f"would remove {pins[gone]} ({dev} in network namespace {gone}" in out
    assert f"would remove {pins[bare]} ({dev} in network namespace {bare}" in out
    assert kept in out and skipped in out
    assert all(p.exists() for p in pins.values()), "a dry run removed pins"

    out = ok(l4lb("detach", "--stale", "-i", dev, ns=bare))
    assert f"removed {pins[bare]}" in out and str(pins[gone]) not in out
    assert not pins[bare].exists() and pins[gone].exists()

    out = ok(l4lb("detach", "--stale"))
    assert f"removed {pins[gone]} ({dev} in network namespace {gone}: the namespace is gone)" in out
    assert kept in out and skipped in out
    assert not pins[gone].exists() and pins[live].exists()
    ok(l4lb("detach", "-i", dev, ns=live))


def test_attach_again_says_what_it_changed(spaces: Namespaces) -> None:
    """F12: the source address and the link's MTU, old and new."""
    ns, dev = spaces.add("s"), spaces.dev
    ok(l4lb("attach", "-i", dev, ns=ns))
    said = ok(l4lb("attach", "-i", dev, "-s", "10.9.9.9", ns=ns))
    assert f"already attached to {dev}" in said
    assert "source address 10.9.9.9 (was 10.0.0.1)" in said
    assert Balancer(dev, netns=ns).config().saddr == "10.9.9.9"
    run(["ip", "-n", ns, "link", "set", dev, "mtu", "1400"])
    said = ok(l4lb("attach", "-i", dev, ns=ns))
    assert "MTU 1400 (was 1500)" in said and "source address" not in said
    assert "(was" not in ok(l4lb("attach", "-i", dev, ns=ns))
    ok(l4lb("detach", "-i", dev, ns=ns))


def test_old_pins_of_the_name_go_with_the_one_detach(spaces: Namespaces) -> None:
    """F14: an earlier l4lb's pins for DEV whose program runs nowhere are
    removed by the detach of DEV's balancer, which says so."""
    x, y, dev = spaces.add("x"), spaces.add("y"), spaces.dev
    ok(l4lb("attach", "-i", dev, ns=y))
    legacy, _ = as_legacy(y, dev)
    run(["ip", "-n", y, "link", "set", dev, "xdp", "off"])
    ok(l4lb("attach", "-i", dev, ns=x))

    said = ok(l4lb("detach", "-i", dev, ns=x))
    assert f"detached from {dev}" in said
    assert f"removed the pins an earlier l4lb left for {dev} in {legacy}" in said
    assert not legacy.exists() and not attached_prog(x, dev)


def test_every_name_the_kernel_takes_is_a_name_l4lb_takes(
    spaces: Namespaces, tmp_path: Path
) -> None:
    """F10: a rename to 'DEV+r' is followed with advice that works."""
    ns, dev = spaces.add("n"), spaces.dev
    odd = f"{spaces.tag}+r"
    ok(l4lb("attach", "-i", dev, ns=ns))
    run(["ip", "-n", ns, "link", "set", dev, "name", odd])
    refused(l4lb("stats", "-i", dev, "--once", ns=ns), f"(use -i {odd})")
    ok(l4lb("map", "-i", odd, "-f", csv(tmp_path, "o", 1), "--vip", VIP, ns=ns))
    assert stats(ns, odd)["services"] == [VIP]
    assert f"detached from {odd}" in ok(l4lb("detach", "-i", odd, ns=ns))
    for bad in (f"{dev} x", f"{dev}/x", f"{dev}:x", "a" * 16):
        refused(l4lb("stats", "-i", bad, "--once", ns=ns), "is not a valid interface name")


def test_the_console_edits_a_balancer_renamed_since_its_last_poll(
    spaces: Namespaces, tmp_path: Path
) -> None:
    """F13: the edit follows the interface, as the poll does."""
    ns, dev = spaces.add("c"), spaces.dev
    new = f"{spaces.tag}w"
    ok(l4lb("attach", "-i", dev, ns=ns))
    ok(l4lb("map", "-i", dev, "-f", csv(tmp_path, "c", 1), "--vip", VIP, ns=ns))
    console = RealBackend(Bpftool(netns=ns), Netlink(netns=ns))
    assert console.sample(dev).state is not None
    run(["ip", "-n", ns, "link", "set", dev, "name", new])

    key = parse_service(VIP)[0]
    console.edit(dev, {key: backend_edits.SetDrain("10.1.0.1", True)})
    drained = [b["ip"] for b in stats(ns, new)["backends"] if b["draining"]]
    assert drained == ["10.1.0.1"]
    ok(l4lb("detach", "-i", new, ns=ns))
