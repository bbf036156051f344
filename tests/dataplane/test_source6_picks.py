"""The outer IPv6 source: never link-local, never a VIP when picked
automatically, and a change says what it was."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from l4lb_tui.balancer import Balancer
from tests.conftest import veth_netns
from tests.dataplane.test_cli_kernel import l4lb as l4lb_in

pytestmark = pytest.mark.kernel


def test_source6_refusals_and_what_it_was() -> None:
    with veth_netns("y17s") as (ns, dev, _):
        try:
            for bad, says in (("fe80::1", "link-local"), ("::ffff:10.0.0.1", "IPv4-mapped")):
                res = l4lb_in(ns, "attach", "-i", dev, "--source6", bad)
                assert res.returncode == 2 and says in res.stderr, res.stderr
                assert "write the IPv4 address itself" not in res.stderr
            assert l4lb_in(ns, "attach", "-i", dev, "--source6", "fd00:77::1").returncode == 0
            res = l4lb_in(ns, "attach", "-i", dev, "--source6", "fd00:77::2")
            assert res.returncode == 0, res.stderr
            assert "outer IPv6 source fd00:77::2 (was fd00:77::1)" in res.stdout, res.stdout
        finally:
            l4lb_in(ns, "detach", "-i", dev)


def test_the_automatic_source6_is_never_a_vip(tmp_path: Path) -> None:
    with veth_netns("y17s") as (ns, dev, _):

        def addr(a: str) -> None:
            argv = ["ip", "-n", ns, "addr", "add", a, "dev", dev, "nodad"]
            subprocess.run(argv, check=True)  # noqa: S603

        addr("fd02::4/64")
        csv = tmp_path / "y17-s6.csv"
        csv.write_text("fd02::11, 02:00:00:00:00:11\n")
        try:
            assert l4lb_in(ns, "attach", "-i", dev).returncode == 0
            res = l4lb_in(ns, "map", "-i", dev, "-f", str(csv), "--vip", "[fd02::4]:80/tcp")
            assert res.returncode == 2 and "other than a VIP" in res.stderr, res.stderr
            assert Balancer(dev, netns=ns).source6() is None
            addr("fd02::9/64")
            res = l4lb_in(ns, "map", "-i", dev, "-f", str(csv), "--vip", "[fd02::4]:80/tcp")
            assert res.returncode == 0, res.stderr
            assert Balancer(dev, netns=ns).source6() == "fd02::9"
        finally:
            l4lb_in(ns, "detach", "-i", dev)


def test_attach_refuses_an_outer_source_that_is_a_running_vip_or_backend(tmp_path: Path) -> None:
    """t18 MEDIUM-1: `attach -s/--source6` took the VIP or a backend of the
    services already loaded, which the config refuses."""
    with veth_netns("y17o") as (ns, dev, _):
        csv6, csv4 = tmp_path / "y17-o6.csv", tmp_path / "y17-o4.csv"
        csv6.write_text("fd02::11, 02:00:00:00:00:11\n")
        csv4.write_text("10.9.0.11, 02:00:00:00:00:12\n")
        try:
            ok = l4lb_in(ns, "attach", "-i", dev, "-s", "10.9.0.1", "--source6", "fd02::1")
            assert ok.returncode == 0, ok.stderr
            for csv, vip in ((csv6, "[fd02::4]:80/tcp"), (csv4, "10.9.0.4:80/tcp")):
                res = l4lb_in(ns, "map", "-i", dev, "-f", str(csv), "--vip", vip)
                assert res.returncode == 0, res.stderr
            for flag, addr, what in (
                ("--source6", "fd02::4", "a VIP"),
                ("--source6", "fd02::11", "a backend"),
                ("-s", "10.9.0.4", "a VIP"),
                ("-s", "10.9.0.11", "a backend"),
            ):
                res = l4lb_in(ns, "attach", "-i", dev, flag, addr)
                assert res.returncode == 2, res.stdout
                assert res.stderr.strip() == (
                    f"l4lb: error: {flag} {addr} is {what} of this balancer: "
                    "the outer source must be the host's own"
                ), res.stderr
            bal = Balancer(dev, netns=ns)
            assert bal.source6() == "fd02::1" and bal.state().config.saddr == "10.9.0.1"
            # t19 MEDIUM-B: the other way round, a load making the source a VIP or backend.
            before = bal.state().services
            own = tmp_path / "y17-own.csv"
            for csv, line, vip, said in (
                (csv6, "fd02::12, 02:00:00:00:00:13", "[fd02::1]:443/tcp", "its VIP fd02::1"),
                (own, "fd02::1, 02:00:00:00:00:14", "[fd02::4]:80/tcp", "backend fd02::1"),
                (own, "10.9.0.1, 02:00:00:00:00:15", "10.9.0.4:80/tcp", "backend 10.9.0.1"),
                (csv4, "", "10.9.0.1:443/tcp", "its VIP 10.9.0.1"),
            ):
                if line:
                    csv.write_text(line + "\n")
                res = l4lb_in(ns, "map", "-i", dev, "-f", str(csv), "--vip", vip)
                assert res.returncode == 2, res.stdout
                lines = res.stderr.strip().splitlines()
                assert len(lines) == 1 and f"{said} is the balancer's outer source" in lines[0]
            res = l4lb_in(ns, "backend", "add", "-i", dev, "--vip", "[fd02::4]:80/tcp",
                          "--ip", "fd02::1", "--mac", "02:00:00:00:00:16")  # fmt: skip
            assert res.returncode == 2 and "backend fd02::1 is the balancer's outer" in res.stderr
            assert bal.state().services == before
        finally:
            l4lb_in(ns, "detach", "-i", dev)
