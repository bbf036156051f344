"""Issue 4, done when: from a bare lab to balanced traffic without leaving the console.

A real lab (client, XDP balancer, three DSR backends) with steady traffic from
its client; the console, run in the LB namespace by lab_flow.py, picks the
interface, attaches in driver mode, loads the lab's CSV, watches the live
rates, edits and deletes backends under traffic, saves, and quits.  Then real
requests show that only the remaining backends answer.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui.destinations import parse_text
from l4lb_tui.lab import Lab, LabError

HERE = Path(__file__).parent
REPO = HERE.parent.parent
TRAFFIC_LIMIT = 90.0  # seconds: the background traffic stops by then whatever happens


@pytest.fixture
def lab() -> Iterator[Lab]:
    # A lab test that cannot run is a failure, never a quiet skip.
    if os.geteuid() != 0:
        pytest.fail("the lab builds network namespaces and attaches XDP: run as root")
    built = Lab(prefix=f"t{secrets.token_hex(2)}", backends=3)  # as lab_support.unique_prefix
    try:
        built.up()
        yield built
    finally:
        built.down()


def steady_traffic(lab: Lab, stop: threading.Event, answers: dict[str, int]) -> None:
    """Rounds of UDP and HTTP requests from the client, paced, until told to stop."""
    deadline = time.monotonic() + TRAFFIC_LIMIT
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            report = lab.traffic(count=1000, duration=2.0, interval=0.01)
        except LabError:
            time.sleep(0.2)
            continue
        for name, n in (*report.udp.by_backend.items(), *report.http.by_backend.items()):
            answers[name] = answers.get(name, 0) + n


def flow(lab: Lab, workdir: Path) -> str:
    backends = ",".join(f"{n.name}={n.addr}" for n in lab.backend_nodes)
    argv = [
        sys.executable, str(HERE / "lab_flow.py"),
        lab.lb_ns, lab.lb_ifname, str(lab.csv_path), lab.vip,
        str(lab.http_port), str(lab.udp_port), backends, str(workdir),
    ]  # fmt: skip
    proc = subprocess.run(  # noqa: S603 - argv list
        argv, capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )
    output = proc.stdout + proc.stderr
    print(output)  # the steps, shown with -s or on failure
    assert proc.returncode == 0 and "flow: ok" in proc.stdout, output[-6000:]
    return output


@pytest.mark.kernel
def test_bare_lab_to_balanced_traffic_from_the_console(lab: Lab, tmp_path: Path) -> None:
    names = {n.addr: n.name for n in lab.backend_nodes}
    check_names = sorted(names.values())
    assert check_names == ["be1", "be2", "be3"], check_names

    stop = threading.Event()
    answers: dict[str, int] = {}
    sender = threading.Thread(target=steady_traffic, args=(lab, stop, answers), daemon=True)
    sender.start()
    try:
        output = flow(lab, tmp_path)
    finally:
        stop.set()
        sender.join(timeout=30)
    assert not sender.is_alive(), "background traffic did not stop"
    for done in ("live pkts/s", "delete be3", "saved ", "flow: ok"):
        assert done in output, output[-6000:]
    # The traffic the console watched was answered, by every backend at some point.
    assert set(answers) == {"be1", "be2", "be3"}, answers

    # The console is gone, the balancer is not: real requests reach be1 and be2 only.
    report = lab.traffic(count=30)
    print("after the console:", *report.lines(), sep="\n  ")
    assert set(report.udp.by_backend) == {"be1", "be2"}, report.lines()
    assert set(report.http.by_backend) == {"be1", "be2"}, report.lines()
    assert sum(report.udp.by_backend.values()) == 30, report.lines()
    assert sum(report.http.by_backend.values()) == 30, report.lines()

    saved = parse_text((tmp_path / "saved.csv").read_text())
    kept = {names[d.ip] for d in saved.destinations}
    assert not saved.errors and kept == {"be1", "be2"}, saved
