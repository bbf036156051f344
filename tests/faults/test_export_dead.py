"""`export` leaves out, as a comment, the pins of a balancer whose link is
gone while another link now has its name (its namespace deleted and made
again): its output is a config that `check` and `apply` take."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import DATA, remove_pins_of, run

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).parents[2]


def l4lb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=60,
    )  # fmt: skip


def balancer(ns: str, dev: str) -> None:
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", f"{dev}p"])
    assert l4lb("--netns", ns, "attach", "-i", dev, "-s", "10.99.0.9").returncode == 0
    res = l4lb("--netns", ns, "map", "-i", dev, "-f", str(DATA / "32_destinations.csv"),
               "--vip", "10.99.0.4:80/tcp")  # fmt: skip
    assert res.returncode == 0, res.stderr


def test_export_leaves_out_pins_whose_link_is_gone(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    ns, dev = f"h12ex{tag}", f"h12ex{tag}v"
    try:
        balancer(ns, dev)
        run(["ip", "netns", "del", ns])  # its pins stay
        balancer(ns, dev)
        res = l4lb("export")
        assert res.returncode == 0, res.stderr
        ours = res.stdout.count(f'interface = "{dev}"')
        assert ours == 1, res.stdout
        assert "whose link is gone" in res.stdout, res.stdout
        config = tmp_path / "export.toml"
        # Only our own balancer: others' tests may run balancers meanwhile.
        config.write_text(_only(res.stdout, dev))
        checked = l4lb("check", str(config))
        assert checked.returncode == 0, (checked.stdout, checked.stderr, config.read_text())
    finally:
        run(["ip", "netns", "del", ns], check=False)
        remove_pins_of(ns)


def _only(text: str, dev: str) -> str:
    """The export's balancer blocks of `dev` alone."""
    blocks = text.split("[[balancer]]\n")
    return "".join(f"[[balancer]]\n{b}" for b in blocks[1:] if b.startswith(f'interface = "{dev}"'))
