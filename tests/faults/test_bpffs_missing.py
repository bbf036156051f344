"""A fresh machine with no bpffs at /sys/fs/bpf (no systemd to mount it):
`l4lb --netns NAME attach` mounts it, as the README's quick start needs,
while a command inside `ip netns exec` (a mount namespace that ends with
it) is refused and mounts nothing.  Each case runs in a mount namespace of
its own with every bpffs at /sys/fs/bpf taken away: the host's pins stay."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import veth_netns

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).parents[2]
L4LB = shlex.join([sys.executable, "-m", "l4lb_tui.cli"])
BARE = "while umount /sys/fs/bpf 2>/dev/null; do :; done; "


def without_bpffs(script: str) -> subprocess.CompletedProcess[str]:
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", BARE + script]
    return subprocess.run(  # noqa: S603
        argv, capture_output=True, text=True, check=False, cwd=ROOT, timeout=90
    )


def test_attach_mounts_bpffs_and_ip_netns_exec_is_refused() -> None:
    with veth_netns("fxbpffs") as (ns, dev, _):
        done = without_bpffs(
            f"{L4LB} --netns {ns} attach -i {dev} && "
            "grep -c ' /sys/fs/bpf bpf ' /proc/mounts && "
            f"{L4LB} --netns {ns} stats -i {dev} --once && "
            f"{L4LB} --netns {ns} detach -i {dev}"
        )
        assert done.returncode == 0, done.stderr
        assert f"attached to {dev}" in done.stdout
        assert f"detached from {dev}" in done.stdout

        refused = without_bpffs(
            f"ip netns exec {ns} {L4LB} attach -i {dev}; echo rc=$?; "
            "grep -c ' /sys/fs/bpf bpf ' /proc/mounts"
        )
        assert "rc=2" in refused.stdout
        assert refused.stdout.rstrip().endswith("0")  # nothing mounted
        assert "ip netns exec" in refused.stderr and "--netns" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
