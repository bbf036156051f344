"""Where no pins can be seen (inside `ip netns exec`, bpffs unmounted) or
kept (L4LB_PIN_ROOT off bpffs, relative, or the bpffs root), every command
says so in one line, instead of "no balancer", "not this balancer's program",
"no stale pins" or an empty export."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from l4lb_tui.paths import NO_BPFFS, pin_root_problem
from tests.conftest import veth_netns

ROOT = Path(__file__).parents[2]
MOUNTS = [("/", "ext4"), ("/sys", "sysfs"), ("/sys/fs/bpf", "bpf"), ("/tmp", "tmpfs")]


@pytest.mark.parametrize(
    ("root", "mounts", "said"),
    [
        ("/sys/fs/bpf/l4lb", MOUNTS, None),
        ("/sys/fs/bpf/a/b", MOUNTS, None),
        ("l4lb-x", MOUNTS, "must be an absolute path"),
        ("/sys/fs/bpf/../bpf/x", MOUNTS, "must be an absolute path"),
        ("/sys/fs/bpf", MOUNTS, "is the root of a bpffs"),
        ("/tmp/h12pins", MOUNTS, "is not on a bpffs"),
        ("/sys/fs/bpf/l4lb", MOUNTS[:2], NO_BPFFS),
        # A bpffs mounted later over a pin directory does not make /tmp one.
        ("/tmp/h12pins", [*MOUNTS, ("/tmp/h12pins/ns1:if2", "bpf")], "is not on a bpffs"),
        ("/sys/fs/bpf/l4lb", [*MOUNTS, ("/sys/fs/bpf", "tmpfs")], NO_BPFFS),
    ],
)
def test_pin_root_problem(root: str, mounts: list[tuple[str, str]], said: str | None) -> None:
    problem = pin_root_problem(Path(root), mounts)
    if said is None:
        assert problem is None
    else:
        assert problem is not None and said in problem, problem


def l4lb(
    *args: str, prefix: Sequence[str] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [*prefix, sys.executable, "-m", "l4lb_tui.cli", *args],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=60, env=env,
    )  # fmt: skip


def one_line(res: subprocess.CompletedProcess[str], text: str) -> None:
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stderr.count("\n") == 1 and text in res.stderr, res.stderr


@pytest.mark.kernel
def test_every_command_says_the_pins_are_not_visible() -> None:
    with veth_netns("h12vis") as (ns, dev, _):
        assert l4lb("--netns", ns, "attach", "-i", dev).returncode == 0
        try:
            unmounted = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                         'umount -l /sys/fs/bpf && exec "$@"', "sh"]  # fmt: skip
            inside = ["ip", "netns", "exec", ns]
            for prefix, where in ((unmounted, ("--netns", ns)), (inside, ())):
                for command in (
                    ("detach", "-i", dev),
                    ("detach", "--stale", "--dry-run"),
                    ("export",),
                    ("stats", "-i", dev, "--once"),
                ):
                    one_line(l4lb(*where, *command, prefix=prefix), "bpffs is not mounted")
            # Nothing was detached meanwhile.
            assert l4lb("--netns", ns, "stats", "-i", dev, "--once").returncode == 0
        finally:
            l4lb("--netns", ns, "detach", "-i", dev)


@pytest.mark.kernel
def test_a_pin_root_off_bpffs_is_refused(tmp_path: Path) -> None:
    with veth_netns("h12root") as (ns, dev, _):
        for root, text in (
            (str(tmp_path / "pins"), "is not on a bpffs"),
            ("h12-relative", "must be an absolute path"),
            ("/sys/fs/bpf", "is the root of a bpffs"),
        ):
            env = {**os.environ, "L4LB_PIN_ROOT": root}
            for command in (("attach", "-i", dev), ("detach", "--stale", "--dry-run")):
                one_line(l4lb("--netns", ns, *command, env=env), text)
        assert not (tmp_path / "pins").exists()
        assert not Path("h12-relative").exists()
