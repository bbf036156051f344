"""bpffs remounted empty while a balancer runs: its program balances on with
no pins.  stats, detach and attach name it as an l4lb balancer whose pins are
gone, and how to recover, instead of "no balancer" and "another program:
detach it first"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from l4lb_tui.paths import PIN_ROOT
from tests.conftest import veth_netns

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).parents[2]


def l4lb(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [*prefix, sys.executable, "-m", "l4lb_tui.cli", *args],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=60,
    )  # fmt: skip


def test_a_running_balancer_whose_pins_are_gone() -> None:
    with veth_netns("h12gone") as (ns, dev, _):
        assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
        try:
            # A fresh, empty bpffs over /sys/fs/bpf, in a mount namespace of
            # the commands' own: the host's pins stay as they are.
            fresh = ("unshare", "-m", "--propagation", "private", "sh", "-c",
                     f'mount -t bpf bpf /sys/fs/bpf && mkdir -p {PIN_ROOT} && exec "$@"',
                     "sh")  # fmt: skip
            for command in (("stats", "-i", dev, "--once"), ("attach", "-i", dev),
                            ("detach", "-i", dev)):  # fmt: skip
                res = l4lb("--netns", ns, *command, prefix=fresh)
                assert res.returncode == 2, res.stderr
                assert "runs an l4lb balancer (XDP program id" in res.stderr, res.stderr
                assert "whose pins are gone" in res.stderr
                assert "detach it first" not in res.stderr
            # Still attached: nothing above touched it.
            assert l4lb("--netns", ns, "stats", "-i", dev, "--once").returncode == 0
        finally:
            l4lb("--netns", ns, "detach", "-i", dev)
