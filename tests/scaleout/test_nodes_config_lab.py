"""The nodes of a config's [[node]] list, on a real scale-out lab: the
console's nodes view lists them (in the config's order, each read through
the daemon its run_dir names) and drains one with d; `l4lb node drain |
undrain | status NODE -c FILE` reach the same daemons, and say in one line,
exit 2, what is wrong with an unknown node or a node whose daemon is dead."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui.console_nodes import HostNodes, NodeSample
from l4lb_tui.lab.scaleout import ScaleLab
from tests.killed_reload import ROOT
from tests.scaleout.conftest import scale_lab
from tests.scaleout.nodes_console import drain_highlighted, established, nodes_app, open_view
from tests.scaleout.test_scaleout_e2e import _wait_hops

pytestmark = [pytest.mark.kernel, pytest.mark.scaleout]


@pytest.fixture(scope="module")
def scale() -> Iterator[ScaleLab]:
    yield from scale_lab("f16")


def _config(lab: ScaleLab, path: Path) -> Path:
    """Nodes 3, 1, 2 in that order; node 1 without run_dir (its lab gives it)."""
    d = lab.destinations()[0]
    nodes = ""
    for i in (3, 1, 2):
        n = lab.node_list[i - 1]
        run_dir = "" if i == 1 else f'run_dir = "{lab.node_dir(i)}"\n'
        nodes += f'[[node]]\nnetns = "{n.ns}"\ninterface = "{n.ifname}"\n{run_dir}'
    path.write_text(
        '[[balancer]]\ninterface = "eth0"\n[[balancer.service]]\n'
        f'vip = "{lab.vip}:80/tcp"\nbackends = [ {{ ip = "{d.ip}", mac = "{d.mac}" }} ]\n' + nodes
    )
    return path


def _l4lb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=90,
    )  # fmt: skip


def _mine(lab: ScaleLab, samples: list[NodeSample]) -> list[NodeSample]:
    return [s for s in samples if s.name.startswith(f"{lab.prefix}-")]


def test_config_nodes_listed_and_sampled(scale: ScaleLab, tmp_path: Path) -> None:
    conf = _config(scale, tmp_path / "nodes.toml")
    nodes = HostNodes(config=lambda: conf)
    specs = [s for s in nodes.specs() if s.netns.startswith(f"{scale.prefix}-")]
    n1, n2, n3 = (n.ns for n in scale.node_list)
    assert [s.name for s in specs] == [n3, n1, n2]  # the config's order
    assert all(s.origin == str(conf) for s in specs)
    assert specs[1].run_dir == scale.node_dir(1)  # from the lab: the config gives none
    samples = established(lambda: _mine(scale, nodes.nodes()))
    assert all(s.announced == (scale.vip, scale.vip6) and s.ring_prints for s in samples), samples


def test_node_commands_by_name(scale: ScaleLab, tmp_path: Path) -> None:
    conf = str(_config(scale, tmp_path / "nodes.toml"))
    n2 = scale.node_list[1].ns
    status = _l4lb("node", "status", n2, "-c", conf)
    assert status.returncode == 0 and "session Established" in status.stdout, status.stderr
    try:
        first = _l4lb("node", "drain", n2, "-c", conf)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith(f"drained: withdrew {scale.vip}, {scale.vip6};"), (
            first.stdout
        )
        _wait_hops(scale, {1, 3})
        again = _l4lb("node", "drain", n2, "-c", conf)
        assert again.returncode == 0, again.stderr
        assert "withdrew nothing (it was drained already)" in again.stdout, again.stdout
    finally:
        back = _l4lb("node", "undrain", n2, "-c", conf)
    assert back.returncode == 0 and back.stdout.startswith("undrained: announcing"), back.stderr
    _wait_hops(scale, {1, 2, 3})
    twice = _l4lb("node", "undrain", n2, "-c", conf)
    assert twice.returncode == 0 and "(it was not drained)" in twice.stdout, twice.stdout
    gone = _l4lb("node", "drain", f"{scale.prefix}-n9", "-c", conf)
    assert gone.returncode == 2 and gone.stdout == "", gone.stdout
    assert gone.stderr.startswith(f"l4lb: error: no node {scale.prefix}-n9 (nodes known here: ")
    assert len(gone.stderr.strip().splitlines()) == 1
    assert scale.next_hops() == {n.addr for n in scale.node_list}  # nothing changed


async def test_console_drains_a_config_node(scale: ScaleLab, tmp_path: Path) -> None:
    conf = _config(scale, tmp_path / "nodes.toml")
    nodes = HostNodes(config=lambda: conf)
    app = nodes_app(nodes)
    n3 = scale.node_list[2].ns
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_view(
                pilot,
                lambda screen: any(s.name == n3 for s in screen.samples),
                "the config's nodes were not shown",
            )
            assert screen.samples[0].name == n3  # the config's first node, first
            await drain_highlighted(pilot, scale, 3)  # the cursor is on it
    finally:
        nodes.undrain(n3)
    _wait_hops(scale, {1, 2, 3})


def test_netns_names_a_node_and_a_drain_undone_meanwhile_gives_up(
    scale: ScaleLab, tmp_path: Path
) -> None:
    n2 = scale.node_list[1].ns
    # `l4lb --netns NODE node ...` reaches that node's daemon (it said no
    # daemon ran, having read this host's run directory).
    status = _l4lb("--netns", n2, "node", "status")
    assert status.returncode == 0 and "session Established" in status.stdout, status.stderr
    drain = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "node", "drain", n2, "--timeout", "30"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        announce = scale.node_dir(2) / "announce.json"
        deadline = time.monotonic() + 20
        while '"drained": true' not in announce.read_text():
            assert time.monotonic() < deadline and drain.poll() is None, drain.communicate()
            time.sleep(0.02)
        # What `node undrain` does first, while the drain still waits for
        # the traffic to move (a second without packets).
        (scale.node_dir(2) / "node-drained").unlink()
        out, err = drain.communicate(timeout=10)
    finally:
        drain.kill()
        _l4lb("node", "undrain", n2)
    assert drain.returncode == 2, (out, err)
    assert (
        err == f"l4lb: error: node {n2}: drain cancelled: undrained meanwhile by another command\n"
    )
    _wait_hops(scale, {1, 2, 3})


def test_a_dead_node_is_said_in_one_line(scale: ScaleLab, tmp_path: Path) -> None:
    """Last: node 3 killed outright, its daemon with it."""
    conf = str(_config(scale, tmp_path / "nodes.toml"))
    n3 = scale.node_list[2].ns
    scale.kill_node(3)
    _wait_hops(scale, {1, 2})
    for verb in ("status", "drain", "undrain"):
        done = _l4lb("node", verb, n3, "-c", conf)
        assert done.returncode == 2, (verb, done.stdout, done.stderr)
        assert done.stderr == (
            f"l4lb: error: node {n3}: no l4lb daemon runs in {scale.node_dir(3)} "
            "(start one with 'l4lb daemon -c FILE')\n"
        ), done.stderr
    assert not (scale.node_dir(3) / "node-drained").exists()  # the refused drain wrote nothing
    dead = next(s for s in HostNodes(config=lambda: Path(conf)).nodes() if s.name == n3)
    assert dead.problem == "no daemon" and dead.session == "", dead
