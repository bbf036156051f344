"""`lab up` over a scale-out lab that already runs, with a node's run
directory exported (t16 F9)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest

from l4lb_tui.lab.scaleout import ScaleLab
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
