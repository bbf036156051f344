"""A write to stdout that fails (a full disk, a closed stdout) is one line on
stderr, exit status 3, no traceback: the change made before it stays made and
is in the event log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from l4lb_tui import events
from l4lb_tui.balancer import Balancer
from tests.conftest import DATA, veth_netns

ROOT = Path(__file__).parents[2]
SVC = "10.99.0.4:80/tcp"
LOST = "l4lb: error: cannot write the output ("


def l4lb(*args: str, stdout: object, env: dict[str, str] | None = None) -> tuple[int, str]:
    res = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        stdout=stdout, stderr=subprocess.PIPE, text=True, check=False, cwd=ROOT,
        timeout=60, env=env,
    )  # fmt: skip
    return res.returncode, res.stderr


def full() -> object:
    return open("/dev/full", "w")  # closed with the test process


@pytest.mark.parametrize("where", ["full", "closed"])
def test_check_with_nowhere_to_write(where: str) -> None:
    out = full() if where == "full" else subprocess.DEVNULL
    args = ["check", str(DATA / "32_destinations.csv")]
    if where == "closed":
        # `>&-`: the child starts with fd 1 closed.
        code, err = _closed_stdout(args)
    else:
        code, err = l4lb(*args, stdout=out)
    assert code == 3, err
    assert err.startswith(LOST) and err.count("\n") == 1, err
    assert ("No space left" if where == "full" else "closed") in err
    assert "change" not in err, "check changes nothing: only its output was lost"


def _closed_stdout(args: list[str]) -> tuple[int, str]:
    res = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False, cwd=ROOT,
        timeout=60, preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    return res.returncode, res.stderr


@pytest.mark.kernel
def test_a_change_whose_output_is_lost(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    env = {**os.environ, "L4LB_EVENTS": str(log)}
    with veth_netns("h12out") as (ns, dev, _):
        try:
            assert l4lb("--netns", ns, "attach", "-i", dev, stdout=full(), env=env)[0] == 3
            code, err = l4lb("--netns", ns, "map", "-i", dev, "-f",
                             str(DATA / "32_destinations.csv"), "--vip", SVC,
                             stdout=subprocess.DEVNULL, env=env)  # fmt: skip
            assert code == 0, err
            ip = next(d.ip for d in Balancer(dev, netns=ns).state().services[0].backends)
            code, err = l4lb("--netns", ns, "backend", "weight", "-i", dev, "--vip", SVC,
                             "--ip", ip, "--weight", "5", stdout=full(), env=env)  # fmt: skip
            assert code == 3, err
            assert err.startswith(LOST) and "Traceback" not in err, err
            assert "any change the command made was made" in err, err
            state = Balancer(dev, netns=ns).state()
            assert {d.ip: d.weight for d in state.services[0].backends}[ip] == 5
            assert any(
                f"weight {ip}: weight " in e.what and e.what.endswith("→ 5")
                for e in events.read(log)
            ), events.read(log)
            code, err = l4lb("--netns", ns, "stats", "-i", dev, "--once", stdout=full(), env=env)
            assert code == 3 and err.startswith(LOST), err
            assert "change" not in err, "stats changes nothing: only its output was lost"
            code, err = l4lb("--netns", ns, "export", stdout=full(), env=env)
            assert code == 3 and err.startswith(LOST) and "change" not in err, err
        finally:
            l4lb("--netns", ns, "detach", "-i", dev, stdout=subprocess.DEVNULL)
