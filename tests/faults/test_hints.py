"""The commands a message tells the operator to run work as given: they name
the --netns the command ran with, quoted for a shell."""

from __future__ import annotations

import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from l4lb_tui.identity import Netns
from tests.conftest import remove_pins_of, veth_netns

ROOT = Path(__file__).parents[2]


def l4lb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["h12-a", "h12 x", "h12*", "h12:x", "h12é", "it's"])
def test_a_hint_names_the_namespace_quoted(name: str) -> None:
    line = Netns(5, name).command("l4lb attach -i v0")
    assert shlex.split(line) == ["l4lb", "--netns", name, "attach", "-i", "v0"]
    assert Netns(5, "", host=True).command("l4lb attach -i v0") == "l4lb attach -i v0"


@pytest.mark.kernel
def test_no_balancer_hint_in_a_namespace() -> None:
    with veth_netns("h12hint") as (ns, dev, _):
        res = l4lb("--netns", ns, "stats", "-i", dev, "--once")
        assert res.returncode == 2
        assert f"run 'l4lb --netns {ns} attach -i {dev}' first" in res.stderr, res.stderr
        res = l4lb("--netns", ns, "detach", "-i", dev)
        assert res.returncode == 2
        assert res.stderr.rstrip().endswith("nothing to detach"), res.stderr
        assert "attach" not in res.stderr, res.stderr


@pytest.mark.kernel
def test_a_balancer_detached_outside_l4lb_is_warned_of() -> None:
    """`ip link set DEV xdp off`: the commands still succeed on the pins,
    but nothing they change reaches traffic; they say so."""
    from tests.conftest import DATA, run

    with veth_netns("h12off") as (ns, dev, _):
        try:
            assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
            run(["ip", "-n", ns, "link", "set", dev, "xdp", "off"])
            attach = f"'l4lb --netns {ns} attach -i {dev}'"
            commands = [
                ("map", "-i", dev, "-f", str(DATA / "32_destinations.csv"),
                 "--vip", "10.99.0.4:80/tcp"),
                ("backend", "weight", "-i", dev, "--vip", "10.99.0.4:80/tcp",
                 "--ip", "10.0.89.127", "--weight", "3"),
                ("stats", "-i", dev, "--once"),
            ]  # fmt: skip
            for command in commands:
                res = l4lb("--netns", ns, *command)
                assert res.returncode == 0, res.stderr
                assert f"the balancer is loaded but not attached to {dev}" in res.stderr, command
                assert attach in res.stderr
            # Another program attached in its place.
            obj = ROOT / "bpf" / "l4lb_pass.o"
            run(["ip", "-n", ns, "link", "set", dev, "xdpgeneric", "obj", str(obj), "sec", "xdp"])
            res = l4lb("--netns", ns, "stats", "-i", dev, "--once")
            assert res.returncode == 0, res.stderr
            assert f"{dev} now runs another XDP program" in res.stderr, res.stderr
        finally:
            run(["ip", "-n", ns, "link", "set", dev, "xdpgeneric", "off"], check=False)
            l4lb("--netns", ns, "detach", "-i", dev)


@pytest.mark.kernel
def test_an_empty_directory_is_not_an_earlier_l4lbs_pins() -> None:
    """`mkdir $L4LB_PIN_ROOT/DEV` beside a running balancer: detach --stale
    offered 'l4lb detach -i DEV' to remove "its pins", which detached the
    running balancer."""
    from l4lb_tui.paths import PIN_ROOT

    with veth_netns("h12mk") as (ns, dev, _):
        assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
        empty = PIN_ROOT / dev
        empty.mkdir()
        try:
            res = l4lb("--netns", ns, "detach", "--stale", "--dry-run")
            assert res.returncode == 0, res.stderr
            assert str(empty) not in res.stdout and "detach -i" not in res.stdout, res.stdout
            res = l4lb("--netns", ns, "detach", "--stale")
            assert res.returncode == 0, res.stderr
            stats = l4lb("--netns", ns, "stats", "-i", dev, "--once")
            assert stats.returncode == 0 and not stats.stderr, stats.stderr
            assert empty.is_dir()
        finally:
            empty.rmdir()
            l4lb("--netns", ns, "detach", "-i", dev)


@pytest.mark.parametrize("name", ["h12 x", "h12*", "h12:x", "h12é", "n" * 255, "lab\n"])
def test_every_name_ip_netns_takes_is_taken(name: str) -> None:
    from l4lb_tui import validation

    assert validation.netns_name(name) == name


@pytest.mark.kernel
def test_a_namespace_named_with_a_space() -> None:
    """A link moved to a namespace `ip netns add` named 'h12 x...' can be
    managed there, and the hints quote the name."""
    from tests.conftest import run

    ns = f"h12 x{uuid.uuid4().hex[:6]}é"
    dev = f"h12sp{uuid.uuid4().hex[:6]}"
    run(["ip", "netns", "add", ns])
    try:
        run(["ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", f"{dev}p"])
        res = l4lb("--netns", ns, "stats", "-i", dev, "--once")
        assert f"run 'l4lb --netns {shlex.quote(ns)} attach -i {dev}' first" in res.stderr
        assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
        assert l4lb("--netns", ns, "stats", "-i", dev, "--once").returncode == 0
        res = l4lb("--netns", ns, "detach", "-i", dev)
        assert res.returncode == 0, res.stderr
    finally:
        run(["ip", "netns", "del", ns], check=False)
        remove_pins_of(ns)


@pytest.mark.kernel
def test_a_link_deleted_during_a_change_is_an_error() -> None:
    """`map` paused mid-batch, its link deleted, resumed: it said
    "N backends" and exit 0; what it wrote went into orphaned pins."""
    from l4lb_tui import balancer_cli
    from l4lb_tui.balancer import Balancer, BalancerError
    from tests.conftest import run

    with veth_netns("h12del") as (ns, dev, _):
        assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
        held = Balancer(dev, netns=ns)
        run(["ip", "-n", ns, "link", "del", dev])
        with pytest.raises(BalancerError, match="deleted while the command ran"):
            balancer_cli.unattached(held)
