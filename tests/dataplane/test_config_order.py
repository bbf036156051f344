"""A backend in another slot than the config's order (remove + add, as a
hitless reload keeps slots) is no difference: apply converges at once and
diff --exit-code says 0, for maglev and round robin rings alike.  Also the
CLI's words for a backend change (old -> new) and a re-attach that keeps
the running mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from l4lb_tui.balancer import Balancer
from tests.dataplane.test_config_apply import DNS, FIRST, config, dev, l4lb

pytestmark = pytest.mark.kernel
__all__ = ["dev"]  # the fixture

DNS2 = DNS.replace(
    'backends = [{ ip = "10.2.0.21", mac = "02:00:00:00:00:15" }]',
    'backends = [{ ip = "10.2.0.21", mac = "02:00:00:00:00:15" },'
    ' { ip = "10.2.0.22", mac = "02:00:00:00:00:16", weight = 2 }]',
)


@pytest.mark.parametrize(
    ("vip", "ip", "mac", "weight"),
    [("10.0.0.4:8080/tcp", "10.2.0.11", "02:00:00:00:00:0b", "1"),
     ("10.0.0.4:53/udp", "10.2.0.21", "02:00:00:00:00:15", "1")],
)  # fmt: skip
def test_slot_order_is_no_difference(
    dev: tuple[str, str], tmp_path: Path, vip: str, ip: str, mac: str, weight: str
) -> None:
    ns, name = dev
    cfg = tmp_path / "fxd-order.toml"
    cfg.write_text(config(ns, name, FIRST, DNS2))
    assert l4lb("apply", "-f", str(cfg)).returncode == 0
    where = ("--netns", ns, "backend")
    common = ("-i", name, "--vip", vip, "--ip", ip)
    assert l4lb(*where, "remove", *common).returncode == 0
    res = l4lb(*where, "add", *common, "--mac", mac, "--weight", weight)
    assert res.returncode == 0, res.stderr
    first = l4lb("apply", "-f", str(cfg))
    assert first.returncode == 0, first.stderr
    assert "backend order" not in first.stdout, first.stdout
    assert "~ ring" not in first.stdout, first.stdout  # the live ring is what they make
    again = l4lb("apply", "-f", str(cfg))
    assert "nothing to change" in again.stdout, again.stdout
    res = l4lb("diff", "-f", str(cfg), "--exit-code")
    assert res.returncode == 0, res.stdout


def test_a_backend_change_says_old_and_new(dev: tuple[str, str], tmp_path: Path) -> None:
    ns, name = dev
    cfg = tmp_path / "fxd-order.toml"
    cfg.write_text(config(ns, name, FIRST))
    assert l4lb("apply", "-f", str(cfg)).returncode == 0
    common = ("-i", name, "--vip", "10.0.0.4:8080/tcp", "--ip", "10.2.0.12")
    res = l4lb("--netns", ns, "backend", "weight", *common, "--weight", "5")
    assert res.returncode == 0, res.stderr
    # The event log gets the same line, which the console shows.
    assert res.stdout.strip() == "service 10.0.0.4:8080/tcp: weight 10.2.0.12: weight 3 → 5"


def test_a_reattach_without_mode_keeps_the_running_mode(dev: tuple[str, str]) -> None:
    ns, name = dev
    assert l4lb("--netns", ns, "attach", "-i", name, "--mode", "generic").returncode == 0
    res = l4lb("--netns", ns, "attach", "-i", name, "-s", "10.9.0.2")
    assert res.returncode == 0, res.stderr
    assert "switched" not in res.stdout and "10.9.0.2" in res.stdout, res.stdout
    assert Balancer(name, netns=ns).state().mode == "generic"
