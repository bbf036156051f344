"""`l4lb apply` with mac = "neighbour" on a real balancer: a missing MAC is
asked of the network from the balancer's own interface, an unanswered one
keeps the MAC the balancer runs with or is left out loudly (never failing the
whole file), and apply says each change, with its detail, as it makes it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.netlink import Netlink
from tests.conftest import run, veth_netns
from tests.dataplane.test_config_apply import l4lb

pytestmark = pytest.mark.kernel

HTTP = ServiceKey("10.0.0.4", 8080, 6)
OTHER_MAC = "02:00:00:00:00:3d"


def config(ns: str, dev: str, weight: int, extra: str = "") -> str:
    return f"""\
[[balancer]]
interface = "{dev}"
netns = "{ns}"
source = "10.0.0.1"

[[balancer.service]]
vip = "10.0.0.4:8080/tcp"
backends = [
  {{ ip = "10.2.0.11", mac = "02:00:00:00:00:0b", weight = {weight} }},
  {{ ip = "10.2.0.60", mac = "neighbour" }},
  {{ ip = "10.2.0.61", mac = "neighbour" }},
]
{extra}"""


@pytest.fixture
def lan() -> Iterator[tuple[str, str, str, str]]:
    """The balancer's namespace and interface, and a backend's namespace and
    link (10.2.0.60) at its other end; 10.2.0.61 is known only on another
    link of the balancer's namespace."""
    with veth_netns("h15bn") as (ns, dev, peer):
        far = f"{ns}p"
        run(["ip", "netns", "add", far])
        try:
            run(["ip", "-n", ns, "link", "set", peer, "netns", far])
            run(["ip", "-n", far, "addr", "add", "10.2.0.60/24", "dev", peer])
            run(["ip", "-n", far, "link", "set", peer, "up"])
            run(["ip", "-n", ns, "addr", "add", "10.2.0.1/24", "dev", dev])
            run(["ip", "-n", ns, "link", "set", dev, "up"])
            other = f"{dev[:-1]}d"
            run(["ip", "-n", ns, "link", "add", other, "type", "veth", "peer", "name", f"{other}e"])
            run(["ip", "-n", ns, "link", "set", other, "up"])
            run(["ip", "-n", ns, "neigh", "add", "10.2.0.61", "lladdr", OTHER_MAC,
                 "dev", other, "nud", "permanent"])  # fmt: skip
            yield ns, dev, far, peer
        finally:
            l4lb("--netns", ns, "detach", "-i", dev)
            run(["ip", "netns", "del", far], check=False)


def members(ns: str, dev: str) -> dict[str, tuple[str, int]]:
    return {d.ip: (d.mac, d.weight) for d in Balancer(dev, netns=ns).members(HTTP)}


def test_neighbours_are_resolved_kept_or_left_out(
    lan: tuple[str, str, str, str], tmp_path: Path
) -> None:
    ns, dev, far, peer = lan
    peer_mac = Netlink(far).link(peer).mac
    cfg = tmp_path / "l4lb.toml"
    cfg.write_text(config(ns, dev, 1))
    res = l4lb("apply", "-f", str(cfg))
    # .60 answered ARP; .61's entry on the other link is not this link's.
    assert res.returncode == 1, res.stderr
    assert "10.2.0.61: LEFT OUT" in res.stderr and "Traceback" not in res.stderr
    assert members(ns, dev) == {
        "10.2.0.11": ("02:00:00:00:00:0b", 1),
        "10.2.0.60": (peer_mac, 1),
    }

    # The backend stops answering and its entry is gone: the MAC it runs
    # with is kept, and the rest of the file still applies.
    run(["ip", "-n", far, "addr", "flush", "dev", peer])
    run(["ip", "-n", ns, "neigh", "flush", "dev", dev])
    cfg.write_text(config(ns, dev, 2))
    res = l4lb("apply", "-f", str(cfg))
    assert res.returncode == 1, res.stderr
    assert f"10.2.0.60: no answer to ARP on the interface; kept its MAC {peer_mac}" in res.stderr
    assert members(ns, dev) == {
        "10.2.0.11": ("02:00:00:00:00:0b", 2),
        "10.2.0.60": (peer_mac, 1),
    }
    # Each change is said with the detail diff shows.
    assert f"~ service {HTTP}: ~ 10.2.0.11 weight 1 -> 2" in res.stdout, res.stdout


def test_a_failure_part_way_says_what_was_changed(
    lan: tuple[str, str, str, str], tmp_path: Path
) -> None:
    ns, dev, _, _ = lan
    cfg = tmp_path / "l4lb.toml"

    def config_fixed(weight: int, extra: str = "") -> str:
        return "".join(
            line + "\n"
            for line in config(ns, dev, weight, extra).splitlines()
            if "neighbour" not in line
        )

    cfg.write_text(config_fixed(1))
    l4lb("apply", "-f", str(cfg))
    second = f"{dev[:-1]}x"
    run(["ip", "-n", ns, "link", "add", second, "type", "veth", "peer", "name", f"{second}y"])
    offload = f'\n[[balancer]]\ninterface = "{second}"\nnetns = "{ns}"\nmode = "offload"\n'
    cfg.write_text(config_fixed(4, offload))
    log = Path(os.environ["L4LB_RUN_DIR"]) / "events.jsonl"
    before = log.read_text().count("\n") if log.exists() else 0
    try:
        res = l4lb("apply", "-f", str(cfg))
    finally:
        l4lb("--netns", ns, "detach", "-i", second)
    assert res.returncode == 2
    assert f"~ service {HTTP}: ~ 10.2.0.11 weight 1 -> 4" in res.stdout, res.stdout
    (error,) = res.stderr.strip().splitlines()[-1:]
    assert "the 1 change before it was made" in error and second in error, res.stderr
    assert members(ns, dev)["10.2.0.11"][1] == 4
    logged = [json.loads(x)["what"] for x in log.read_text().splitlines()[before:]]
    assert any("weight 1 -> 4" in what for what in logged), logged
