"""`l4lb apply`, `diff` and `export` on a real balancer: apply makes the
running state match, diff says what apply would do and changes nothing,
export prints what apply reproduces exactly (round trip)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from tests.conftest import run, veth_netns
from tests.killed_reload import ROOT

pytestmark = pytest.mark.kernel

HTTP = ServiceKey("10.0.0.4", 8080, 6)
DNS_UDP = ServiceKey("10.0.0.4", 53, 17)


def l4lb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def config(ns: str, dev: str, backends: str, extra: str = "") -> str:
    return f"""\
[[balancer]]
interface = "{dev}"
netns = "{ns}"
mode = "driver"
source = "10.0.0.1"

[[balancer.service]]
vip = "10.0.0.4:8080/tcp"
backends = [
{backends}]
{extra}"""


FIRST = """\
  {{ ip = "10.2.0.11", mac = "02:00:00:00:00:0b" }},
  {{ ip = "10.2.0.12", mac = "02:00:00:00:00:0c", weight = 3 }},
  {{ ip = "10.2.0.50", mac = "neighbour" }},
""".replace("{{", "{").replace("}}", "}")
DNS = """
[[balancer.service]]
vip = "10.0.0.4:53/udp"
fill = "roundrobin"
ring_size = 1000
backends = [{ ip = "10.2.0.21", mac = "02:00:00:00:00:15" }]
"""


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with veth_netns("l4c") as (ns, dev, _):
        run(["ip", "-n", ns, "link", "set", dev, "up"])
        run(
            [
                "ip",
                "-n",
                ns,
                "neigh",
                "add",
                "10.2.0.50",
                "lladdr",
                "02:00:00:00:00:32",
                "dev",
                dev,
                "nud",
                "permanent",
            ]
        )
        try:
            yield ns, dev
        finally:
            l4lb("--netns", ns, "detach", "-i", dev)


def members(ns: str, dev: str, key: ServiceKey) -> dict[str, tuple[str, int, bool]]:
    return {d.ip: (d.mac, d.weight, d.drained) for d in Balancer(dev, netns=ns).members(key)}


def test_apply_diff_export_round_trip(dev: tuple[str, str], tmp_path: Path) -> None:
    ns, name = dev
    cfg = tmp_path / "l4lb.toml"
    cfg.write_text(config(ns, name, FIRST, DNS))
    res = l4lb("diff", "-f", str(cfg))
    assert res.returncode == 0, res.stderr
    assert "attach in driver mode" in res.stdout and f"+ service {HTTP}" in res.stdout
    assert not Balancer(name, netns=ns).is_loaded(), "diff changed something"

    res = l4lb("apply", "-f", str(cfg))
    assert res.returncode == 0, res.stderr
    assert members(ns, name, HTTP) == {
        "10.2.0.11": ("02:00:00:00:00:0b", 1, False),
        "10.2.0.12": ("02:00:00:00:00:0c", 3, False),
        "10.2.0.50": ("02:00:00:00:00:32", 1, False),  # from the neighbour table
    }
    dns = next(s for s in Balancer(name, netns=ns).state().services if s.key == DNS_UDP)
    assert not dns.value.maglev and dns.value.ring_size == 1000
    res = l4lb("diff", "-f", str(cfg), "--exit-code")
    assert (res.returncode, res.stdout.strip()) == (0, f"{name} (netns {ns}): as configured")
    again = l4lb("apply", "-f", str(cfg))
    assert "nothing to change" in again.stdout

    exported = tmp_path / "exported.toml"
    res = l4lb("export", "-o", str(exported))
    assert res.returncode == 0, res.stderr
    text = exported.read_text()
    assert f'interface = "{name}"' in text and 'mac = "02:00:00:00:00:32"' in text
    assert l4lb("check", str(exported)).returncode == 0
    res = l4lb("diff", "-f", str(exported), "--exit-code")
    assert res.returncode == 0 and "as configured" in res.stdout, res.stdout

    # A change of the file: a backend gone, one drained, one weighed, a service gone.
    changed = FIRST.replace("weight = 3", "weight = 5, drained = true").replace(
        '  { ip = "10.2.0.11", mac = "02:00:00:00:00:0b" },\n', ""
    )
    cfg.write_text(config(ns, name, changed))
    res = l4lb("diff", "-f", str(cfg), "--exit-code")
    assert res.returncode == 1
    for line in ["- 10.2.0.11", "~ 10.2.0.12 weight 3 -> 5, drained", f"- service {DNS_UDP}"]:
        assert line in res.stdout, res.stdout
    assert l4lb("apply", "-f", str(cfg)).returncode == 0
    assert members(ns, name, HTTP) == {
        "10.2.0.12": ("02:00:00:00:00:0c", 5, True),
        "10.2.0.50": ("02:00:00:00:00:32", 1, False),
    }
    assert DNS_UDP not in {s.key for s in Balancer(name, netns=ns).state().services}


def test_a_bad_config_changes_nothing_and_names_every_line(
    dev: tuple[str, str], tmp_path: Path
) -> None:
    ns, name = dev
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        config(ns, name, FIRST + '  { ip = "127.0.0.1", mac = "02:00:00:00:00:01" },\n').replace(
            'mode = "driver"', 'mode = "drivr"'
        )
    )
    for cmd in (["apply", "-f", str(cfg)], ["diff", "-f", str(cfg)], ["check", str(cfg)]):
        res = l4lb(*cmd)
        assert res.returncode == 2, res
        assert "line 4: balancer[0].mode" in res.stderr and "line 13:" in res.stderr
        assert "Traceback" not in res.stderr
    assert not Balancer(name, netns=ns).is_loaded()


def test_an_unresolved_neighbour_is_left_out_loudly(dev: tuple[str, str], tmp_path: Path) -> None:
    ns, name = dev
    cfg = tmp_path / "l4lb.toml"
    cfg.write_text(config(ns, name, '  { ip = "10.2.0.99", mac = "neighbour" },\n'))
    res = l4lb("apply", "-f", str(cfg))
    assert res.returncode == 1 and "10.2.0.99: LEFT OUT" in res.stderr, res.stderr
    assert members(ns, name, HTTP) == {}


def test_changes_land_in_the_event_log(dev: tuple[str, str], tmp_path: Path) -> None:
    import json
    import os

    ns, name = dev
    log = Path(os.environ["L4LB_RUN_DIR"]) / "events.jsonl"
    before = log.read_text().count("\n") if log.exists() else 0
    assert l4lb("--netns", ns, "attach", "-i", name).returncode == 0
    csv = tmp_path / "d.csv"
    csv.write_text("10.2.0.11, 02:00:00:00:00:0b\n")
    assert (
        l4lb(
            "--netns", ns, "map", "-i", name, "-f", str(csv), "--vip", "10.0.0.4:80/tcp"
        ).returncode
        == 0
    )
    lines = [json.loads(x) for x in log.read_text().splitlines()[before:]]
    mine = [e for e in lines if e["interface"] == name]
    assert [e["who"] for e in mine] == ["cli", "cli"]
    assert mine[0]["what"].startswith("attached to") and mine[1]["service"] == "10.0.0.4:80/tcp"
