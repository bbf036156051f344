"""`l4lb apply` to a namespace node and a node on "another host" reached
over real SSH (an sshd of the test's own in a namespace of its own, see
tests/sshd_node.py): both rings byte-identical after each apply; a stopped
sshd is reported per node as could not reach while the other node is
applied; a remote l4lb of another version is refused before anything
changes there."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui.abi import ServiceKey
from l4lb_tui.balancer import Balancer
from l4lb_tui.config_model import SshSpec
from l4lb_tui.remote.ssh import SshError, call
from tests.conftest import PIN_ROOT, RUN_DIR, remove_pins_of, veth_netns
from tests.killed_reload import ROOT
from tests.sshd_node import SshNode, ssh_node

pytestmark = pytest.mark.kernel

HTTP = ServiceKey("10.0.0.4", 8080, 6)
FIRST = '{ ip = "10.2.0.11", mac = "02:00:00:00:00:0b" }, { ip = "10.2.0.12", mac = "02:00:00:00:00:0c" }'
SECOND = FIRST + ', { ip = "10.2.0.13", mac = "02:00:00:00:00:0d", weight = 2 }'
# The remote l4lb as a real node would run it, with this test session's pin
# root and run directory (sshd hands a session a fresh environment).
REMOTE = [
    "env", f"L4LB_PIN_ROOT={PIN_ROOT}", f"L4LB_RUN_DIR={RUN_DIR}", sys.executable, "-m",
    "l4lb_tui.cli",
]  # fmt: skip
# Put before REMOTE: the same l4lb, but for the version it tells (a remote
# l4lb of another release).
OTHER_VERSION = """#!/bin/sh
for arg in "$@"; do
    if [ "$arg" = --version ]; then echo "l4lb 0.0.1"; exit 0; fi
done
exec "$@"
"""


def _toml_list(words: list[str]) -> str:
    return "[" + ", ".join(f'"{w}"' for w in words) + "]"


def _config(local: tuple[str, str], remote: SshNode, backends: str, command: list[str]) -> str:
    return f"""\
[[balancer]]
interface = "eth0"
mode = "driver"
source = "10.0.0.1"

[[balancer.service]]
vip = "10.0.0.4:8080/tcp"
backends = [ {backends} ]

[[node]]
netns = "{local[0]}"
interface = "{local[1]}"

[[node]]
host = "{remote.host}"
interface = "{remote.dev}"

[ssh]
config = "{remote.ssh_config}"
command = {_toml_list(command)}
connect_timeout = 5
timeout = 120
"""


def _l4lb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def _print(dev: str, ns: str) -> str:
    bal = Balancer(dev, netns=ns)
    return bal.state().fingerprints.get(HTTP, "") if bal.is_loaded() else ""


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[tuple[str, str], SshNode]]:
    with veth_netns("s16") as (ns, dev, _), ssh_node(tmp_path) as remote:
        try:
            yield (ns, dev), remote
        finally:
            remove_pins_of(ns)
            if Balancer(remote.dev, netns=remote.ns).is_loaded():
                Balancer(remote.dev, netns=remote.ns).detach()


def test_apply_reaches_a_namespace_and_a_host_alike(
    nodes: tuple[tuple[str, str], SshNode], tmp_path: Path
) -> None:
    local, remote = nodes
    conf = tmp_path / "nodes.toml"
    conf.write_text(_config(local, remote, FIRST, REMOTE))
    done = _l4lb("apply", "-f", str(conf))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{local[0]}: {local[1]} (netns {local[0]}): attach" in done.stdout, done.stdout
    assert f"{remote.host}: {remote.dev}: attach" in done.stdout, done.stdout
    first = _print(local[1], local[0])
    assert first and _print(remote.dev, remote.ns) == first
    conf.write_text(_config(local, remote, SECOND, REMOTE))
    diff = _l4lb("diff", "--exit-code", "-f", str(conf))
    assert diff.returncode == 1 and f"{remote.host}:   ~ service" in diff.stdout
    done = _l4lb("apply", "-f", str(conf))
    assert done.returncode == 0, done.stdout + done.stderr
    second = _print(local[1], local[0])
    assert second != first and _print(remote.dev, remote.ns) == second
    again = _l4lb("apply", "-f", str(conf))
    assert again.returncode == 0 and again.stdout.count("nothing to change") == 2, again.stdout
    assert _l4lb("diff", "--exit-code", "-f", str(conf)).returncode == 0


def test_a_host_out_of_reach_fails_alone(
    nodes: tuple[tuple[str, str], SshNode], tmp_path: Path
) -> None:
    local, remote = nodes
    conf = tmp_path / "nodes.toml"
    conf.write_text(_config(local, remote, FIRST, REMOTE))
    assert _l4lb("apply", "-f", str(conf)).returncode == 0
    first = _print(remote.dev, remote.ns)
    remote.stop()
    conf.write_text(_config(local, remote, SECOND, REMOTE))
    failed = _l4lb("apply", "-f", str(conf))
    assert failed.returncode == 2, failed.stdout + failed.stderr
    said = f"{remote.host}: FAILED: could not reach {remote.host}: ssh: connect to host"
    assert said in failed.stderr and "Connection refused" in failed.stderr, failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert f"apply failed on 1 of 2 nodes ({remote.host})" in last, last
    assert "the other nodes were applied" in last
    assert _print(remote.dev, remote.ns) == first != _print(local[1], local[0])
    diff = _l4lb("diff", "-f", str(conf))
    assert diff.returncode == 2 and "could not reach" in diff.stderr, diff.stderr


def test_a_host_with_another_l4lb_is_refused(
    nodes: tuple[tuple[str, str], SshNode], tmp_path: Path
) -> None:
    local, remote = nodes
    fake = tmp_path / "other-l4lb"
    fake.write_text(OTHER_VERSION)
    fake.chmod(0o755)
    conf = tmp_path / "nodes.toml"
    conf.write_text(_config(local, remote, FIRST, [str(fake), *REMOTE]))
    refused = _l4lb("apply", "-f", str(conf))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    said = f"{remote.host}: FAILED: refused, nothing was changed there: it runs l4lb 0.0.1"
    assert said in refused.stderr, refused.stderr
    assert _print(local[1], local[0]) and not Balancer(remote.dev, netns=remote.ns).is_loaded()


def test_hosts_alone_need_no_root_here() -> None:
    """Only other hosts: nothing changes here, so an operator's own user
    (and keys) will do; the remote l4lb runs as root there.  (The config
    on stdin: the test's files are root's alone.)"""
    config = (
        '[[balancer]]\ninterface = "eth0"\n[[balancer.service]]\nvip = "10.0.0.4:80/tcp"\n'
        'backends = [{ ip = "10.0.0.11", mac = "02:00:00:00:00:11" }]\n'
        '[[node]]\nhost = "127.0.0.1"\nport = 1\n[ssh]\nconfig = "/dev/null"\n'
    )
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    for command in ("apply", "diff"):
        said = subprocess.run(  # noqa: S603
            [*as_nobody, sys.executable, "-m", "l4lb_tui.cli", command, "-f", "-"],
            input=config, cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert said.returncode == 2, said.stderr
        assert "needs root" not in said.stderr, said.stderr
        reach = "could not reach 127.0.0.1: ssh: connect to host 127.0.0.1 port 1"
        assert reach in said.stderr, said.stderr


def test_a_host_is_heard_as_it_speaks_and_stopped_at_its_timeout(tmp_path: Path) -> None:
    """The adapter gives each line as the node says it (a failure part-way
    leaves what was said), and stops a node that keeps silent at its
    timeout."""
    with ssh_node(tmp_path) as remote:
        spec = SshSpec(("sh", "-c"), config=str(remote.ssh_config), connect_timeout=5)
        heard: list[tuple[float, str]] = []
        start = time.monotonic()
        with pytest.raises(SshError, match=r"no answer after 3 s"):
            call(
                spec, remote.host, None, ["echo first; exec sleep 10"], timeout=3.0,
                out=lambda line: heard.append((time.monotonic() - start, line)),
            )  # fmt: skip
        assert [line for _, line in heard] == ["first"]
        assert heard[0][0] < 3.0 <= time.monotonic() - start
