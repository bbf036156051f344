"""Suite-wide rules: kernel tests run as root for real, and never skip in CI."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui import procfs

DATA = Path(__file__).parent / "data"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _session_run_dir() -> Path:
    """The session's own run directory (lock files, the lab's state), for
    this process and every one it starts, set before anything imports
    l4lb_tui.paths: the real /run/l4lb belongs to running balancers, and
    other engineers' test runs on this machine use it too.

    Pytest loads this file as `conftest` and the tests import it again as
    `tests.conftest`: both must name the same directory, made once per
    session (a pytest started by a test gets one of its own).
    """
    owner, _, made = os.environ.get(_RUN_DIR_OWNER, "").partition(":")
    if owner != str(os.getpid()) or not made:
        made = tempfile.mkdtemp(prefix="l4lb-tests-run-")
        os.environ[_RUN_DIR_OWNER] = f"{os.getpid()}:{made}"
    os.environ["L4LB_RUN_DIR"] = made
    # The labs' state too (it is not under L4LB_RUN_DIR: l4lb_tui/lab/names.py).
    os.environ["L4LB_LAB_DIR"] = made
    # The balancers' locks are one directory for every process whatever its
    # run directory (paths.LOCK_DIR): the session's, under its run directory.
    os.environ["L4LB_LOCK_DIR"] = f"{made}/locks"
    return Path(made)


_RUN_DIR_OWNER = "L4LB_TESTS_RUN_DIR"
RUN_DIR = _session_run_dir()
_PIN_ROOTS = Path("/sys/fs/bpf")
_PIN_ROOT_WORKER = "L4LB_TESTS_PIN_ROOT_WORKER"


def _session_pin_root() -> Path:
    """The session's own pin root on the real bpffs (`l4lb detach --stale`
    and the lab look through every balancer's pins: they must see this
    session's only)."""
    root = os.environ.get("L4LB_PIN_ROOT", "")
    # Each pytest-xdist worker gets its own root (a root made by the
    # controller would let one worker's `detach --stale` see another's pins);
    # a pytest a test starts in a worker still shares its worker's.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker and os.environ.get(_PIN_ROOT_WORKER) != worker:
        root = ""
        os.environ[_PIN_ROOT_WORKER] = worker
    if not root.startswith(f"{_PIN_ROOTS}/l4lb-tests-"):
        # The pid of the pytest that owns it (a pytest a test starts shares it).
        root = f"{_PIN_ROOTS}/l4lb-tests-{os.getpid()}"
        os.environ["L4LB_PIN_ROOT"] = root
    return Path(root)


PIN_ROOT = _session_pin_root()


def _unpin(path: Path, root: Path = PIN_ROOT) -> None:
    # Imported here: l4lb_tui.paths reads the variables set above.
    from l4lb_tui.bpftool import BpfError, Bpftool

    with contextlib.suppress(BpfError):
        Bpftool.unpin_tree(path, root)


def _remove_killed_sessions_roots() -> None:
    if _PIN_ROOTS.is_dir():
        for old in _PIN_ROOTS.glob("l4lb-tests-*"):
            pid = old.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not procfs.alive(int(pid)):
                _unpin(old, _PIN_ROOTS)


_remove_killed_sessions_roots()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kernel: needs root, BPF and network namespaces")
    config.addinivalue_line(
        "markers", "scaleout: the scale-out lab (BIRD, ECMP, several nodes), slowest group"
    )
    from l4lb_tui import paths

    if (
        paths.RUN_DIR != RUN_DIR
        or paths.PIN_ROOT != PIN_ROOT
        or paths.LOCK_DIR != RUN_DIR / "locks"
    ):
        raise pytest.UsageError(
            "l4lb_tui.paths was imported before tests/conftest.py set L4LB_RUN_DIR and "
            f"L4LB_PIN_ROOT: the tests would use {paths.RUN_DIR} and {paths.PIN_ROOT}"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    if PIN_ROOT.name == f"l4lb-tests-{os.getpid()}":
        _unpin(PIN_ROOT, _PIN_ROOTS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    for item in items:
        if "kernel" in item.keywords:
            if IN_CI:
                item.add_marker(pytest.mark.xfail(reason="not root", strict=True, run=False))
            else:
                item.add_marker(pytest.mark.skip(reason="kernel test: run as root"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a test that did not run: fail the session."""
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    xfailed = len(reporter.stats.get("xfailed", [])) if reporter else 0
    if (skipped or xfailed) and exitstatus == 0:
        print(f"\nCI: {skipped} skipped and {xfailed} not run: every test must run in CI")
        session.exitstatus = 1


def run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check)  # noqa: S603


@contextlib.contextmanager
def veth_netns(prefix: str = "l4t") -> Iterator[tuple[str, str, str]]:
    """A throwaway namespace holding a veth pair: (netns, lb side, peer side).

    The links stay down: packet tests count exact numbers, and a link that is
    up sends IPv6 neighbour discovery of its own through the program.
    """
    tag = uuid.uuid4().hex[:6]
    ns, dev, peer = f"{prefix}{tag}", f"{prefix}{tag}a", f"{prefix}{tag}b"
    run(["ip", "netns", "add", ns])
    try:
        run(["ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", peer])
        yield ns, dev, peer
    finally:
        run(["ip", "netns", "del", ns], check=False)
        remove_pins_of(ns)


def remove_pins_of(ns: str) -> None:
    """Remove the pins of every balancer made in namespace `ns` (as their
    records say), for a test that deleted it with a balancer attached."""
    from l4lb_tui import pinning

    for pinned in pinning.recorded_in(ns):
        _unpin(pinned.path)


@pytest.fixture(scope="module")
def netns_veth() -> Iterator[tuple[str, str, str]]:
    with veth_netns() as made:
        yield made
