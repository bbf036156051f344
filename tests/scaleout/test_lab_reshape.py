"""`lab up`, `lab status`, `lab down` and break/fix over a scale-out lab that
already runs: with a node's run directory exported, over a drained node, in
another shape, after a node's namespace was deleted (t16 F1, F2, F7, F8,
F9, F14).  The tests run in order on one lab; the last one takes it down."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from l4lb_tui import pinning, procfs
from l4lb_tui.lab import names
from l4lb_tui.lab.errors import LabError
from l4lb_tui.lab.scaleout import ScaleLab
from l4lb_tui.lab.tools import run_in, run_tool
from l4lb_tui.netlink import namespaces
from tests.killed_reload import ROOT

pytestmark = [pytest.mark.kernel, pytest.mark.scaleout]


@pytest.fixture(scope="module")
def lab() -> Iterator[ScaleLab]:
    made = ScaleLab(f"x16{uuid.uuid4().hex[:3]}", nodes=2, backends=2)
    try:
        made.up()
        yield made
    finally:
        made.down()


def _l4lb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        cwd=ROOT, env=env or dict(os.environ), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _lab(
    lab: ScaleLab, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return _l4lb("lab", *args, "--prefix", lab.prefix, env=env)


def _hops_meanwhile(lab: ScaleLab, stop: threading.Event, seen: list[int]) -> None:
    while not stop.wait(0.05):
        seen.append(len(lab.next_hops()))


def test_up_with_a_node_run_dir_exported_leaves_the_lab_alone(lab: ScaleLab) -> None:
    router = lab.router_speaker.pidfile.read_text().strip()
    stop, seen = threading.Event(), []  # type: ignore[var-annotated]
    watch = threading.Thread(target=_hops_meanwhile, args=(lab, stop, seen))
    watch.start()
    try:
        done = _lab(lab, "up", "--nodes", "2", env={**os.environ, **lab.node_env(2)})
    finally:
        stop.set()
        watch.join()
    assert done.returncode == 0, done.stderr
    assert not (lab.node_dir(2) / f"lab-{lab.prefix}").exists()
    in_router = namespaces.pids([lab.router.ns])[lab.router.ns]
    assert in_router == [int(router)], in_router
    assert seen and set(seen) == {2}, seen


def test_up_over_a_drained_node_says_so(lab: ScaleLab) -> None:
    env = {**os.environ, **lab.node_env(2)}
    assert _l4lb("node", "drain", env=env).returncode == 0
    try:
        done = _lab(lab, "up", "--nodes", "2")
        assert done.returncode == 0, done.stderr
        n2 = lab.node_list[1].ns
        assert f"node n2: drained (l4lb node undrain {n2})" in done.stdout
    finally:
        # As the hint says: by the node's name, from any run directory.
        assert _l4lb("node", "undrain", lab.node_list[1].ns).returncode == 0
    lab.wait_routes(2, 30)


def test_single_balancer_up_over_it_refuses_changing_nothing(lab: ScaleLab) -> None:
    done = _lab(lab, "up")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"l4lb: error: lab up: lab {lab.prefix} is a scale-out lab of 2 nodes: run "
        f"'l4lb lab up --prefix {lab.prefix} --nodes 2', or 'l4lb lab down --prefix "
        f"{lab.prefix}' first"
    ]
    assert names.balancer(lab.prefix).ns not in namespaces.listed()


def test_up_with_the_other_bfd_setting_refuses_changing_nothing(lab: ScaleLab) -> None:
    conf = lab.router_speaker.conf.read_text()
    done = _lab(lab, "up", "--nodes", "2", "--no-bfd")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"l4lb: error: lab up: lab {lab.prefix} was built with BFD on: "
        f"`l4lb lab down --prefix {lab.prefix}` first to change it"
    )
    assert done.stdout == ""
    assert lab.router_speaker.conf.read_text() == conf
    assert "bfd = true" in (lab.node_dir(1) / "l4lb.toml").read_text()


def test_a_wait_for_routes_that_fails_names_the_next_hops_plainly(lab: ScaleLab) -> None:
    """v16: the message kept a Python list's repr."""
    with pytest.raises(LabError) as said:
        lab.wait_routes(3, 0.2)
    hops = ", ".join(sorted(lab.next_hops()))
    assert f"routes {lab.vip} to {hops} after 0.2 s, not to 3 nodes" in str(said.value)
    assert "[" not in str(said.value)


def test_status_says_the_router_bird_is_gone_and_up_restarts_it(lab: ScaleLab) -> None:
    """v16 N9: lab status was silent on a killed router BIRD."""
    pid = int(lab.router_speaker.pidfile.read_text().strip())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while procfs.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    status = _lab(lab, "status")
    assert status.returncode == 0, status.stderr
    assert (
        f"missing: the router's BIRD ({lab.router.ns}) does not answer: no node is routed to "
        f"('l4lb lab up --prefix {lab.prefix} --nodes 2' starts it again)"
    ) in status.stdout.splitlines(), status.stdout
    up = _lab(lab, "up", "--nodes", "2")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "missing:" not in _lab(lab, "status").stdout
    lab.wait_routes(2, 30)


def test_break_and_fix_in_the_scale_out_lab(lab: ScaleLab) -> None:
    be2 = lab.base.backend_nodes[1]
    done = _lab(lab, "break", "--backend", "2", "--how", "vip")
    assert done.returncode == 0 and done.stdout.strip() == "be2: vip broken", done
    assert "10.0.0.4" not in run_tool(["ip", "-n", be2.ns, "-4", "address", "show", "lo"]).stdout
    assert _lab(lab, "break", "--backend", "2", "--how", "server").returncode == 0
    done = _lab(lab, "fix", "--backend", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "be2: server, vip fixed"
    report = lab.base.traffic(count=50)
    assert report.http.answered == 50, report.lines()


def _metric(lab: ScaleLab, index: int, name: str) -> list[str]:
    text = run_in(lab.node_list[index - 1].ns, ["curl", "-s", "http://127.0.0.1:9440/metrics"])
    return [line for line in text.stdout.splitlines() if line.startswith(name)]


def test_a_hung_speaker_is_not_shown_announcing_and_is_restarted(lab: ScaleLab) -> None:
    """t16 F16: a stopped BIRD left metrics at announced 1 and status at
    Established, and was never restarted."""
    pidfile = lab.node_dir(2) / "bgp" / "speaker.pid"
    hung = int(pidfile.read_text())
    os.kill(hung, signal.SIGSTOP)
    try:
        lab.wait_routes(1, 10)
        deadline = time.monotonic() + 20
        while _metric(lab, 2, "l4lb_bgp_announced{") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _metric(lab, 2, "l4lb_bgp_announced{") == []
        lab.wait_routes(2, 40)  # a new speaker, its session up again
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hung, signal.SIGCONT)
    assert not procfs.alive(hung)
    assert "the speaker did not answer 3 times" in (lab.node_dir(2) / "daemon.log").read_text()
    # Both VIPs again, each once its family's session is up.
    both = ['l4lb_bgp_announced{vip="10.0.0.4"} 1', 'l4lb_bgp_announced{vip="fd00::4"} 1']
    deadline = time.monotonic() + 10
    while _metric(lab, 2, "l4lb_bgp_announced{") != both and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _metric(lab, 2, "l4lb_bgp_announced{") == both


def test_a_dropped_node_goes_wholly(lab: ScaleLab) -> None:
    done = _lab(lab, "up", "--nodes", "3")
    assert done.returncode == 0, done.stderr
    three = lab.node_list[0].ns.replace("-n1", "-n3")
    assert [p for p in pinning.listing() if p.record and p.record.netns == three]
    done = _lab(lab, "up", "--nodes", "2")
    assert done.returncode == 0, done.stderr
    assert "node n3: removed (the lab has 2 nodes now)" in done.stdout
    assert three not in namespaces.listed()
    assert not ScaleLab(lab.prefix, 3).node_dir(3).exists()
    assert not [p for p in pinning.listing() if p.record and p.record.netns == three]
    assert lab.next_hops() == {n.addr for n in lab.node_list}


def test_a_deleted_node_namespace_is_shown_refused_and_taken_down(lab: ScaleLab) -> None:
    daemon = lab.daemon_pid(2)
    bird = int((lab.node_dir(2) / "bgp" / "speaker.pid").read_text())
    assert daemon is not None
    run_tool(["ip", "netns", "del", lab.node_list[1].ns])
    status = _lab(lab, "status")
    assert status.returncode == 0
    said = [line for line in status.stdout.splitlines() if line.startswith("orphan: ")]
    assert {int(line.split()[2]) for line in said} >= {daemon, bird}, status.stdout
    done = _lab(lab, "up", "--nodes", "2")
    assert done.returncode == 2
    assert f"run 'l4lb lab down --prefix {lab.prefix}'" in done.stderr
    assert lab.node_list[1].ns not in namespaces.listed()
    done = _lab(lab, "down")
    assert done.returncode == 0, done.stderr
    assert not procfs.alive(daemon) and not procfs.alive(bird)
    assert not lab.base.state_dir.exists()
