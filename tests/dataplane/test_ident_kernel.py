"""A balancer is its namespace and interface index, not its name (issue 12).

Every case runs the `l4lb` command on real veth pairs in namespaces of its
own, and checks the programs with real frames (BPF_PROG_TEST_RUN on the
program each link runs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from l4lb_tui.balancer import Balancer
from l4lb_tui.netlink import Netlink
from tests.conftest import run
from tests.dataplane.identkit import (
    Namespaces,
    as_legacy,
    attached_prog,
    csv,
    l4lb,
    ok,
    refused,
    send,
    stats,
)

pytestmark = pytest.mark.kernel


def balancer_of(ns: str, dev: str) -> tuple[object, ...]:
    """What a balancer is: program, services, backends, config, pins (the
    counters move with the links' own IPv6 chatter)."""
    doc = stats(ns, dev)
    backends = [(b["service"], b["ip"], b["mac"], b["weight"]) for b in doc["backends"]]
    bal = Balancer(dev, netns=ns)
    pins = sorted(str(p) for p in bal.pin_dir.parent.iterdir())
    return attached_prog(ns, dev), doc["services"], backends, bal.config(), pins


def test_one_name_in_two_namespaces_is_two_balancers(spaces: Namespaces, tmp_path: Path) -> None:
    """Each namespace's `dev` balances its own service with its own MAC, and
    each detaches cleanly, the other running on meanwhile."""
    x, y, dev = spaces.add("x"), spaces.add("y"), spaces.dev
    assert "attached" in ok(l4lb("attach", "-i", dev, ns=x))
    assert "attached" in ok(l4lb("attach", "-i", dev, ns=y))
    ok(l4lb("map", "-i", dev, "-f", csv(tmp_path, "x", 1), "--vip", "10.0.0.4:9000/udp", ns=x))
    ok(l4lb("map", "-i", dev, "-f", csv(tmp_path, "y", 2), "--vip", "10.0.0.5:9000/udp", ns=y))
    assert attached_prog(x, dev) != attached_prog(y, dev), "one program in both namespaces"
    assert Balancer(dev, netns=x).pin_dir != Balancer(dev, netns=y).pin_dir

    for ns, mine, other, octet in ((x, "10.0.0.4", "10.0.0.5", 1), (y, "10.0.0.5", "10.0.0.4", 2)):
        verdict, out = send(ns, dev, mine)
        assert verdict == "XDP_TX"
        outer = Ether(out)
        assert outer.src == Netlink(ns).link(dev).mac, "sent with another interface's MAC"
        assert outer[IP].dst.startswith(f"10.{octet}.0."), "sent to another namespace's backend"
        assert send(ns, dev, other)[0] == "XDP_PASS", "balanced another namespace's service"
        doc = stats(ns, dev)
        assert doc["services"] == [f"{mine}:9000/udp"]
        assert doc["totals"]["pkts"] == 1

    assert "detached" in ok(l4lb("detach", "-i", dev, ns=x))
    assert not attached_prog(x, dev)
    assert send(y, dev, "10.0.0.5")[0] == "XDP_TX", "y stopped with x"
    assert stats(y, dev)["services"] == ["10.0.0.5:9000/udp"]
    refused(l4lb("stats", "-i", dev, "--once", ns=x), f"no balancer on {dev}")
    assert "detached" in ok(l4lb("detach", "-i", dev, ns=y))
    assert not attached_prog(y, dev)
    assert not Balancer(dev, netns=x).pin_dir.exists()
    assert not Balancer(dev, netns=y).pin_dir.exists()


def test_a_renamed_interface_keeps_its_balancer(spaces: Namespaces, tmp_path: Path) -> None:
    """stats, map, attach and detach follow the new name; the old one says
    where the interface went."""
    ns, dev = spaces.add("r"), spaces.dev
    new = f"{spaces.tag}w"
    ok(l4lb("attach", "-i", dev, ns=ns))
    ok(l4lb("map", "-i", dev, "-f", csv(tmp_path, "a", 1), "--vip", "10.0.0.4:9000/udp", ns=ns))
    prog = attached_prog(ns, dev)
    run(["ip", "-n", ns, "link", "set", dev, "name", new])

    doc = stats(ns, new)
    assert doc["interface"] == new and doc["prog_id"] == prog
    assert doc["services"] == ["10.0.0.4:9000/udp"]
    refused(l4lb("stats", "-i", dev, "--once", ns=ns), f"renamed to {new}")
    ok(l4lb("map", "-i", new, "-f", csv(tmp_path, "b", 3), "--vip", "10.0.0.4:9000/udp", ns=ns))
    verdict, out = send(ns, new, "10.0.0.4")
    assert verdict == "XDP_TX" and Ether(out)[IP].dst.startswith("10.3.0."), "not the new backends"
    assert f"already attached to {new}" in ok(l4lb("attach", "-i", new, ns=ns))
    assert attached_prog(ns, new) == prog

    refused(
        l4lb("detach", "-i", dev, ns=ns), f"renamed to {new}", f"l4lb --netns {ns} detach -i {new}"
    )
    assert attached_prog(ns, new) == prog, "the old name detached it"
    assert f"detached from {new}" in ok(l4lb("detach", "-i", new, ns=ns))
    assert not attached_prog(ns, new)
    assert not Balancer(new, netns=ns).pin_dir.exists()


def test_a_name_missing_here_changes_nothing_anywhere(spaces: Namespaces, tmp_path: Path) -> None:
    """`map -i NAME` where NAME does not exist (another namespace, the host's)
    is refused, naming the namespace, and no balancer anywhere changes."""
    x, dev = spaces.add("x"), spaces.dev
    empty = spaces.add("e", with_link=False)
    ok(l4lb("attach", "-i", dev, ns=x))
    ok(l4lb("map", "-i", dev, "-f", csv(tmp_path, "x", 1), "--vip", "10.0.0.4:9000/udp", ns=x))
    before = balancer_of(x, dev)
    other = csv(tmp_path, "o", 9)
    for netns, place in (
        (empty, f"network namespace {empty}"),
        (None, "the host's network namespace"),
    ):
        said = f"interface {dev} does not exist in {place}"
        refused(l4lb("map", "-i", dev, "-f", other, "--vip", "10.0.0.9:9000/udp", ns=netns), said)
        refused(l4lb("attach", "-i", dev, ns=netns), said)
        refused(
            l4lb(
                "backend",
                "drain",
                "-i",
                dev,
                "--vip",
                "10.0.0.4:9000/udp",
                "--ip",
                "10.1.0.1",
                ns=netns,
            ),
            said,
        )
        refused(l4lb("service", "del", "-i", dev, "--vip", "10.0.0.4:9000/udp", ns=netns), said)
        refused(l4lb("stats", "-i", dev, "--once", ns=netns), said)
        refused(l4lb("detach", "-i", dev, ns=netns), said)
    assert balancer_of(x, dev) == before


def test_old_layout_pins_are_adopted(spaces: Namespaces, tmp_path: Path) -> None:
    """Pins of the old layout whose program runs on the link are this
    link's: the first command there adopts them, traffic untouched."""
    ns, dev = spaces.add("a"), spaces.dev
    ok(l4lb("attach", "-i", dev, ns=ns))
    ok(l4lb("map", "-i", dev, "-f", csv(tmp_path, "a", 1), "--vip", "10.0.0.4:9000/udp", ns=ns))
    prog = attached_prog(ns, dev)
    legacy, pins = as_legacy(ns, dev)
    assert legacy.exists() and not pins.exists()

    doc = stats(ns, dev)
    assert doc["prog_id"] == prog and doc["services"] == ["10.0.0.4:9000/udp"]
    assert not legacy.exists() and pins.exists(), "not adopted"
    from l4lb_tui import pinning  # here: the check of the old code runs this file too

    record = pinning.read_record(pins)
    assert record is not None and (record.ifname, record.netns) == (dev, ns)
    assert send(ns, dev, "10.0.0.4")[0] == "XDP_TX"
    assert "detached" in ok(l4lb("detach", "-i", dev, ns=ns))
    assert not Balancer(dev, netns=ns).pin_dir.exists()


def test_old_layout_pins_elsewhere_are_explained(spaces: Namespaces, tmp_path: Path) -> None:
    """Old pins of a name that two namespaces have: a namespace whose link
    does not run them is told whose they are, never handed them; once their
    program runs nowhere, `detach` removes them."""
    x, y, dev = spaces.add("x"), spaces.add("y"), spaces.dev
    ok(l4lb("attach", "-i", dev, ns=x))
    legacy, _ = as_legacy(x, dev)

    said = refused(
        l4lb("stats", "-i", dev, "--once", ns=y), f"no balancer on {dev} in network namespace {y}"
    )
    assert str(legacy) in said and "l4lb detach --stale" in said
    refused(
        l4lb("detach", "-i", dev, ns=y),
        f"their program runs on {dev} in network namespace {x}",
        f"l4lb --netns {x} detach -i {dev}",
    )
    out = ok(l4lb("detach", "--stale"))
    assert (
        f"kept {legacy}: an earlier l4lb's pins for {dev}, running on {dev} in network namespace {x}"
        in out
    )
    assert legacy.exists()

    run(["ip", "-n", x, "link", "set", dev, "xdp", "off"])  # runs nowhere now
    out = ok(l4lb("detach", "--stale"))
    assert (
        f"kept {legacy}: an earlier l4lb's pins for {dev}, whose program runs on no interface"
        in out
    )
    assert f"'l4lb --netns {x} detach -i {dev}' removes them" in out
    ok(l4lb("attach", "-i", dev, ns=y))
    assert legacy.exists() and Balancer(dev, netns=y).pin_dir.exists(), "y was given x's pins"
    assert "removed the pins an earlier l4lb left" in ok(l4lb("detach", "-i", dev, ns=x))
    assert not legacy.exists()
    ok(l4lb("detach", "-i", dev, ns=y))


def test_stale_pins_are_removed_and_live_ones_kept(spaces: Namespaces) -> None:
    """A namespace deleted with its balancer, an interface deleted with its
    balancer: `detach --stale` removes their pins, nothing of the live one."""
    live, gone, bare, dev = spaces.add("l"), spaces.add("g"), spaces.add("b"), spaces.dev
    for ns in (live, gone, bare):
        ok(l4lb("attach", "-i", dev, ns=ns))
    pins = {ns: Balancer(dev, netns=ns).pin_dir for ns in (live, gone, bare)}
    run(["ip", "netns", "del", gone])
    run(["ip", "-n", bare, "link", "del", dev])
    refused(
        l4lb("stats", "-i", dev, "--once", ns=bare),
        "it was deleted",
        f"l4lb detach -i {dev}' removes them",
    )

    out = ok(l4lb("detach", "--stale"))
    assert f"removed {pins[gone]} ({dev} in network namespace {gone}: the namespace is gone)" in out
    assert f"removed {pins[bare]} ({dev} in network namespace {bare}: the interface is gone)" in out
    assert not pins[gone].exists() and not pins[bare].exists()
    assert pins[live].exists()
    assert f"kept {pins[live]}: runs on {dev} in network namespace {live}" in out
    assert stats(live, dev)["mode"] == "driver"
    assert "no stale pins" in ok(l4lb("detach", "--stale"))
    ok(l4lb("detach", "-i", dev, ns=live))


def test_attach_in_a_namespace_whose_name_the_record_cannot_hold() -> None:
    """A name over 63 bytes was cut short in the pins' record; attach now
    refuses it with one line and leaves no pins."""
    spaces = Namespaces("hfin")
    try:
        ns = spaces.add("x" * 60)
        refused(l4lb("attach", "-i", spaces.dev, ns=ns), "longer than the 63")
        assert not Balancer(spaces.dev, netns=ns).pin_dir.exists()
    finally:
        spaces.remove()
