"""The seed's workflow through the `l4lb` command, on a real attached program."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import DATA, run

pytestmark = pytest.mark.kernel


def l4lb(ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "--netns", ns, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def wired() -> Iterator[tuple[str, str, str]]:
    """An LB namespace (10.0.0.4) and a sender namespace (10.0.0.2) joined by
    a veth pair: (lb netns, lb interface, sender netns)."""
    tag = uuid.uuid4().hex[:6]
    ns, sender, dev, peer = f"l4c{tag}", f"l4s{tag}", f"l4c{tag}a", f"l4c{tag}b"
    run(["ip", "netns", "add", ns])
    run(["ip", "netns", "add", sender])
    try:
        run(["ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", peer])
        run(["ip", "-n", ns, "link", "set", peer, "netns", sender])
        run(["ip", "-n", ns, "addr", "add", "10.0.0.4/24", "dev", dev])
        run(["ip", "-n", sender, "addr", "add", "10.0.0.2/24", "dev", peer])
        run(["ip", "-n", ns, "link", "set", dev, "up"])
        run(["ip", "-n", sender, "link", "set", peer, "up"])
        yield ns, dev, sender
    finally:
        l4lb(ns, "detach", "-i", dev)
        run(["ip", "netns", "del", ns], check=False)
        run(["ip", "netns", "del", sender], check=False)


def flood(sender: str, seconds: int = 2) -> None:
    """UDP from random sources to the LB; bounded in time, inside the namespaces."""
    argv = ["ip", "netns", "exec", sender, "timeout", str(seconds), "hping3", "-q", "-2"]
    argv += ["-p", "9000", "--rand-source", "--flood", "10.0.0.4"]
    subprocess.run(argv, capture_output=True, check=False)  # noqa: S603


def test_seed_sample_loads_and_stats_move(wired: tuple[str, str, str]) -> None:
    ns, dev, sender = wired
    res = l4lb(ns, "attach", "-i", dev)
    assert res.returncode == 0, res.stderr
    res = l4lb(ns, "map", "-i", dev, "-f", str(DATA / "32_destinations.csv"))
    assert res.returncode == 0, res.stderr
    assert "Loading file with 32 destinations" in res.stdout
    assert "balancing ALL TCP and UDP" in res.stderr, "catch-all must warn"
    flood(sender)
    res = l4lb(ns, "stats", "-i", dev, "--once", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["mode"] == "driver"
    assert len(doc["backends"]) == 32
    hit = [b for b in doc["backends"] if b["pkts"] > 0]
    assert len(hit) == 32, "random sources must reach every destination"
    assert doc["totals"]["pkts"] > 1000
    text = l4lb(ns, "stats", "-i", dev, "--once").stdout
    assert "[Driver]" in text and "[Totals]" in text and "10.0.89.127" in text


def test_services_only_balance_what_they_name(wired: tuple[str, str, str]) -> None:
    ns, dev, sender = wired
    assert l4lb(ns, "attach", "-i", dev).returncode == 0
    res = l4lb(
        ns, "map", "-i", dev, "-f", str(DATA / "32_destinations.csv"), "--vip", "10.0.0.4:8080/tcp"
    )
    assert res.returncode == 0 and "balancing ALL" not in res.stderr
    flood(sender, 1)  # UDP to port 9000: not the service
    doc = json.loads(l4lb(ns, "stats", "-i", dev, "--once", "--json").stdout)
    assert doc["totals"]["pkts"] == 0
    assert doc["passed"]["pass_no_service"] > 100


def test_detach_removes_everything(wired: tuple[str, str, str]) -> None:
    ns, dev, _ = wired
    assert l4lb(ns, "attach", "-i", dev).returncode == 0
    again = l4lb(ns, "attach", "-i", dev)
    assert again.returncode == 0 and "already attached" in again.stdout
    res = l4lb(ns, "detach", "-i", dev)
    assert res.returncode == 0 and "detached" in res.stdout
    assert "xdp" not in run(["ip", "-n", ns, "link", "show", dev]).stdout
    res = l4lb(ns, "stats", "-i", dev, "--once")
    assert res.returncode == 2 and "no balancer" in res.stderr


def test_offload_refusal_keeps_running_state(wired: tuple[str, str, str]) -> None:
    ns, dev, _ = wired
    assert l4lb(ns, "attach", "-i", dev).returncode == 0
    assert l4lb(ns, "map", "-i", dev, "-f", str(DATA / "32_destinations.csv")).returncode == 0
    res = l4lb(ns, "attach", "-i", dev, "--mode", "offload")
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert f"{dev} (veth) cannot offload XDP" in line and "--mode driver" in line, line
    assert "unchanged" in line and "libbpf" not in line
    doc = json.loads(l4lb(ns, "stats", "-i", dev, "--once", "--json").stdout)
    assert doc["mode"] == "driver" and len(doc["backends"]) == 32


def test_switch_driver_generic_keeps_backends(wired: tuple[str, str, str]) -> None:
    ns, dev, _ = wired
    assert l4lb(ns, "attach", "-i", dev).returncode == 0
    assert l4lb(ns, "map", "-i", dev, "-f", str(DATA / "32_destinations.csv")).returncode == 0
    res = l4lb(ns, "attach", "-i", dev, "--mode", "generic")
    assert res.returncode == 0, res.stderr
    # Warned before, one line after, with the gap measured.
    assert res.stderr.startswith(f"warning: switching {dev} from driver to generic mode: ")
    assert "no connection is reset" in res.stderr
    assert res.stdout.startswith(f"switched {dev} from driver to generic mode (gap ")
    assert res.stdout.count("\n") == 1
    doc = json.loads(l4lb(ns, "stats", "-i", dev, "--once", "--json").stdout)
    assert doc["mode"] == "generic" and len(doc["backends"]) == 32


def test_backend_commands_and_stats_show_weights(wired: tuple[str, str, str]) -> None:
    ns, dev, _ = wired
    assert l4lb(ns, "attach", "-i", dev).returncode == 0
    svc = "10.0.0.4:9000/udp"
    res = l4lb(ns, "map", "-i", dev, "-f", str(DATA / "32_destinations.csv"), "--vip", svc)
    assert res.returncode == 0 and "(maglev)" in res.stdout
    ip = "10.0.89.127"
    steps = [
        ("weight", "--ip", ip, "--weight", "7"),
        ("drain", "--ip", ip),
        ("add", "--ip", "10.3.0.1", "--mac", "02:00:00:03:00:01", "--weight", "2"),
        ("remove", "--ip", "10.0.214.65"),
    ]
    for step in steps:
        res = l4lb(ns, "backend", step[0], "-i", dev, "--vip", svc, *step[1:])
        assert res.returncode == 0, res.stderr
    doc = json.loads(l4lb(ns, "stats", "-i", dev, "--once", "--json").stdout)
    rows = {b["ip"]: b for b in doc["backends"]}
    assert rows[ip]["weight"] == 7 and rows[ip]["draining"]
    assert rows["10.3.0.1"]["weight"] == 2
    assert "10.0.214.65" not in rows and len(rows) == 32
    assert set(doc["flows"]) == {"hit", "new", "stale", "stored", "untracked", "reused"}
    text = l4lb(ns, "stats", "-i", dev, "--once").stdout
    assert "draining" in text and "[Flows]" in text
    bad = l4lb(ns, "backend", "remove", "-i", dev, "--vip", svc, "--ip", "10.9.9.9")
    assert bad.returncode == 2 and "is not a backend" in bad.stderr
    bad = l4lb(ns, "backend", "weight", "-i", dev, "--vip", svc, "--ip", ip, "--weight", "70000")
    assert bad.returncode == 2 and "out of range" in bad.stderr
    assert l4lb(ns, "service", "del", "-i", dev, "--vip", svc).returncode == 0
    doc = json.loads(l4lb(ns, "stats", "-i", dev, "--once", "--json").stdout)
    assert doc["services"] == []


def test_a_refused_map_leaves_the_source_as_it_was(wired: tuple[str, str, str]) -> None:
    from l4lb_tui.balancer import Balancer

    ns, dev, _ = wired
    assert l4lb(ns, "attach", "-i", dev, "-s", "10.0.0.1").returncode == 0
    csv = str(DATA / "32_destinations.csv")
    res = l4lb(
        ns,
        "map",
        "-i",
        dev,
        "-s",
        "10.9.9.9",
        "--ring-size",
        "100",
        "-f",
        csv,
        "--vip",
        "10.0.0.4:80/tcp",
    )
    assert res.returncode == 2 and "prime" in res.stderr
    assert "Loading" not in res.stdout
    assert Balancer(dev, netns=ns).config().saddr == "10.0.0.1"
    res = l4lb(ns, "map", "-i", dev, "-s", "10.9.9.9", "-f", csv, "--vip", "10.0.0.4:80/tcp")
    assert res.returncode == 0 and Balancer(dev, netns=ns).config().saddr == "10.9.9.9"
