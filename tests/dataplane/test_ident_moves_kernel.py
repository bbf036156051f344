"""A balancer whose interface left: deleted with its index handed to a new
link, or moved to another namespace while attached (issue 12, the tester's
F1 and F2).  Real links in namespaces of the test's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.bpftool import Bpftool
from l4lb_tui.console_kernel import RealBackend
from l4lb_tui.netlink import Netlink
from tests.conftest import run
from tests.dataplane.identkit import (
    Namespaces,
    attached_prog,
    csv,
    ifindex,
    l4lb,
    ok,
    refused,
    send,
    stats,
)

pytestmark = pytest.mark.kernel

VIP = "10.0.0.4:9000/udp"


def attached_with_service(ns: str, dev: str, tmp_path: Path) -> tuple[Path, int]:
    """`dev` in `ns` balancing VIP: its pin directory and program id."""
    ok(l4lb("attach", "-i", dev, ns=ns))
    ok(l4lb("map", "-i", dev, "-f", csv(tmp_path, ns, 1), "--vip", VIP, ns=ns))
    return Balancer(dev, netns=ns).pin_dir, attached_prog(ns, dev)


def test_a_new_link_with_an_old_index_is_not_the_old_balancer(
    spaces: Namespaces, tmp_path: Path
) -> None:
    """F1: the link made in a deleted link's place (same index, same name)
    has no balancer; the old pins are stale, and attach starts afresh."""
    ns, again, dev = spaces.add("a"), spaces.add("b"), spaces.dev
    other = f"{dev}n"  # in `again`, the later link has another name
    old = {}
    for where, later in ((ns, dev), (again, other)):
        pins, _ = attached_with_service(where, dev, tmp_path)
        index = ifindex(where, dev)
        run(["ip", "-n", where, "link", "del", dev])
        spaces.veth(where, later, "index", str(index), peer=f"{dev}q")
        assert ifindex(where, later) == index
        old[where] = pins

    console = RealBackend(Bpftool(netns=ns), Netlink(netns=ns))
    assert [r.has_balancer for r in console.links() if r.link.ifname == dev] == [False]
    assert console.sample(dev).state is None
    said = refused(l4lb("stats", "-i", dev, "--once", ns=ns), f"no balancer on {dev}")
    assert str(old[ns]) in said and "l4lb detach --stale" in said
    refused(l4lb("map", "-i", dev, "-f", csv(tmp_path, "n", 2), "--vip", VIP, ns=ns), "no balancer")
    refused(l4lb("detach", "-i", dev, ns=ns), f"no balancer on {dev}")
    assert old[ns].exists(), "detach of the new link removed the old pins"
    out = ok(l4lb("detach", "--stale", "--dry-run"))
    assert f"would remove {old[ns]} ({dev} in network namespace {ns}: the interface is gone" in out

    said = ok(l4lb("attach", "-i", dev, ns=ns))
    assert f"attached to {dev}" in said and f"removed {old[ns]}" in said
    doc = stats(ns, dev)
    assert doc["services"] == [] and doc["backends"] == [], "the new link inherited a balancer"
    assert Balancer(dev, netns=ns).config().ifmac == Netlink(ns).link(dev).mac

    said = refused(l4lb("stats", "-i", dev, "--once", ns=again), "it was deleted")
    assert "renamed" not in said
    refused(l4lb("stats", "-i", other, "--once", ns=again), f"no balancer on {other}")
    out = ok(l4lb("detach", "--stale", "-i", dev, ns=again))
    assert f"removed {old[again]} ({dev} in network namespace {again}: the interface is gone" in out
    assert not old[again].exists()
    assert f"kept {old[ns]}: runs on {dev}" in ok(l4lb("detach", "--stale"))
    ok(l4lb("attach", "-i", other, ns=again))
    for where, name in ((ns, dev), (again, other)):
        assert "detached" in ok(l4lb("detach", "-i", name, ns=where))


def test_a_link_moved_to_another_namespace_takes_its_balancer(
    spaces: Namespaces, tmp_path: Path
) -> None:
    """F2: the old namespace says where the link went and removes nothing;
    the new one manages the balancer, which balanced on all along."""
    x, y, dev = spaces.add("x"), spaces.add("y", with_link=False), spaces.dev
    pins, prog = attached_with_service(x, dev, tmp_path)
    index = ifindex(x, dev)
    run(["ip", "-n", x, "link", "set", dev, "netns", y])
    assert attached_prog(y, dev) == prog

    moved = f"moved to network namespace {y}"
    refused(l4lb("stats", "-i", dev, "--once", ns=x), moved, f"l4lb --netns {y}")
    refused(l4lb("detach", "-i", dev, ns=x), moved, f"l4lb --netns {y} detach -i {dev}")
    kept = f"kept {pins}: runs on {dev} in network namespace {y}"
    assert kept in ok(l4lb("detach", "--stale", "-i", dev, ns=x))
    assert kept in ok(l4lb("detach", "--stale"))
    assert pins.exists(), "pins of a running program were removed"
    # The old index taken by a new link meanwhile: its attach must not
    # take the moved balancer's pins for leftovers.
    spaces.veth(x, dev, "index", str(index), peer=f"{dev}q")
    refused(l4lb("attach", "-i", dev, ns=x), moved, f"l4lb --netns {y}")
    assert pins.exists()

    console = RealBackend(Bpftool(netns=y), Netlink(netns=y))
    assert [r.has_balancer for r in console.links() if r.link.ifname == dev] == [True]
    doc = stats(y, dev)
    assert doc["prog_id"] == prog and doc["services"] == [VIP]
    assert not pins.exists() and Balancer(dev, netns=y).pin_dir.exists(), "not taken along"
    run(["ip", "-n", y, "link", "set", dev, "up"])
    assert send(y, dev, "10.0.0.4")[0] == "XDP_TX"
    ok(l4lb("map", "-i", dev, "-f", csv(tmp_path, "y", 3), "--vip", VIP, ns=y))
    assert all(b["ip"].startswith("10.3.0.") for b in stats(y, dev)["backends"])

    ok(l4lb("attach", "-i", dev, ns=x))
    assert attached_prog(x, dev) not in (0, prog)
    assert "detached" in ok(l4lb("detach", "-i", dev, ns=y))
    assert "detached" in ok(l4lb("detach", "-i", dev, ns=x))
    assert not Balancer(dev, netns=y).pin_dir.exists()


def test_a_balancer_held_while_its_link_moves_is_not_detached(
    spaces: Namespaces, tmp_path: Path
) -> None:
    """F2, from a Balancer made before the move (a console's, a daemon's):
    its detach finds the link gone, and the program running elsewhere."""
    x, y, dev = spaces.add("x"), spaces.add("y", with_link=False), spaces.dev
    pins, prog = attached_with_service(x, dev, tmp_path)
    held = Balancer(dev, netns=x)
    run(["ip", "-n", x, "link", "set", dev, "netns", y])
    # What `stats` (a loop on one Balancer) adds to "no longer exists":
    # where the link went.
    assert not held.link_exists()
    assert f"moved to network namespace {y}" in (held.moved_note() or "")
    with pytest.raises(BalancerError, match=f"moved to network namespace {y}"):
        held.detach()
    assert pins.exists() and attached_prog(y, dev) == prog
    assert "detached" in ok(l4lb("detach", "-i", dev, ns=y))
    assert not pins.exists() and not Balancer(dev, netns=y).pin_dir.exists()
