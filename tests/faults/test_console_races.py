"""Console edits racing the CLI and other writers, on the real kernel.

Each flow runs a console in a child process (tests/faults/race_flow.py) on
a balancer the CLI started with 32 backends; the other writer acts at a
moment the flow makes certain.  Names carry the `edt` prefix and a random
tag: other test runs share this machine.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import DATA, veth_netns
from tests.faults.faults_support import SVC, console_flow, l4lb

pytestmark = pytest.mark.kernel


@pytest.fixture
def loaded() -> Iterator[tuple[str, str]]:
    """(netns, interface) of a balancer serving SVC with 32 backends."""
    with veth_netns("edt") as (ns, dev, _):
        subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)  # noqa: S603
        assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
        csv = str(DATA / "32_destinations.csv")
        res = l4lb("--netns", ns, "map", "-i", dev, "-f", csv, "--vip", SVC)
        assert res.returncode == 0, res.stderr
        try:
            yield ns, dev
        finally:
            l4lb("--netns", ns, "detach", "-i", dev)


def race(flow: str, loaded: tuple[str, str]) -> str:
    ns, dev = loaded
    return console_flow(flow, dev, netns=ns, module="race_flow")


def test_cli_add_between_a_console_edits_read_and_write(loaded: tuple[str, str]) -> None:
    assert "neither edit lost" in race("between", loaded)


def test_cli_add_while_the_consoles_question_is_open(loaded: tuple[str, str]) -> None:
    assert "both kept" in race("confirm", loaded)


def test_two_writers_on_one_backend(loaded: tuple[str, str]) -> None:
    out = race("two_writers", loaded)
    assert "stale edit refused" in out and "edit on the refreshed values applied" in out


def test_undo_after_another_writer(loaded: tuple[str, str]) -> None:
    out = race("undo", loaded)
    assert "refused" in out and "the other change kept" in out
