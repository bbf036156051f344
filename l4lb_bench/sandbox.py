"""Where the benchmarks run: their own namespace, pins, CPU and sysctls.

Everything a benchmark changes is undone by a context manager, on success,
error or SIGTERM.  A run killed outright (SIGKILL) leaves a namespace named
after its pid; the next run removes namespaces and pins of dead pids.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from l4lb_bench.errors import BenchError
from l4lb_bench.processes import owner_only
from l4lb_tui import pinning
from l4lb_tui.bpftool import BpfError, Bpftool
from l4lb_tui.lock import lock_path
from l4lb_tui.netlink import NetlinkError, build, namespaces
from l4lb_tui.paths import PIN_ROOT, RUN_DIR
from l4lb_tui.procfs import alive

SYSCTL_MARKS = RUN_DIR / "bench-sysctl"  # old values, by pid and key
BENCH_PIN_ROOT = Path("/sys/fs/bpf/l4lb-bench")
_NS_RE = re.compile(r"^l4bench-(\d+)c?$")


# -- namespaces -----------------------------------------------------------------


def reap_stale() -> list[str]:
    """Remove namespaces and pins left by benchmark runs that were killed,
    and put back the sysctls they had changed."""
    removed = _restore_sysctls()
    for name in namespaces.listed():
        m = _NS_RE.match(name)
        if m and not alive(int(m.group(1))):
            with contextlib.suppress(NetlinkError):
                namespaces.remove(name)
                removed.append(name)
    if BENCH_PIN_ROOT.is_dir():
        for d in BENCH_PIN_ROOT.iterdir():
            if d.name.isdigit() and not alive(int(d.name)):
                _unpin(d, BENCH_PIN_ROOT)
                removed.append(str(d))
    removed += reap_labs()
    # The balancer's pins (and write lock) of a run's interface, known by
    # the name they record.
    for pinned in pinning.listing():
        m = re.match(r"^l4b(\d+)[ab]$", pinned.ifname)
        if m and not alive(int(m.group(1))):
            _remove_pins(pinned.path)
            removed.append(str(pinned.path))
    return removed


def _remove_pins(path: Path) -> None:
    """A balancer's pins and its write lock."""
    _unpin(path)
    lock_path(path.name).unlink(missing_ok=True)


def _unpin(path: Path, root: Path = PIN_ROOT) -> None:
    with contextlib.suppress(BpfError):
        Bpftool.unpin_tree(path, root)


_LAB_RE = re.compile(r"^bn([0-9a-f]{1,6})-")


def lab_prefix(pid: int) -> str:
    """Prefix of the lab `l4lb bench lab` builds: `bn` + pid in hex (8 chars at most)."""
    return f"bn{pid:x}"


def reap_labs() -> list[str]:
    """Take down labs of `bench lab` runs whose process is gone."""
    gone = {m.group(1) for m in map(_LAB_RE.match, namespaces.listed()) if m}
    gone = {pid for pid in gone if not alive(int(pid, 16))}
    if not gone:
        return []
    from l4lb_tui.lab import Lab, LabError

    for pid in sorted(gone):
        with contextlib.suppress(LabError):
            Lab(prefix=lab_prefix(int(pid, 16))).down()
    return [lab_prefix(int(pid, 16)) for pid in sorted(gone)]


@dataclass(frozen=True, slots=True)
class VethPair:
    ns: str
    dev: str  # where the program under test runs
    peer: str  # drops what it receives, or sends traffic from peer_ns
    peer_ns: str  # the peer's namespace: `ns` itself unless split

    @classmethod
    def for_this_process(cls, split: bool = False) -> VethPair:
        pid = os.getpid()
        ns = f"l4bench-{pid}"
        return cls(ns, f"l4b{pid}a", f"l4b{pid}b", f"{ns}c" if split else ns)


@contextlib.contextmanager
def veth_namespace(mtu: int = 1500, split: bool = False) -> Iterator[VethPair]:
    """A namespace of this run holding an up veth pair, IPv6 off (no stray
    neighbour discovery through the program under test), removed afterwards.

    split: the peer goes into a second namespace, to send traffic from.
    """
    pair = VethPair.for_this_process(split)
    me = os.getpid()
    made = []
    try:
        for ns in dict.fromkeys((pair.ns, pair.peer_ns)):
            namespaces.create(ns)
            made.append(ns)
            namespaces.write_sysctls(ns, namespaces.IPV6_OFF)
        peer_ns = pair.peer_ns if split else None
        with build.editing(pair.ns) as links:
            links.add_veth(pair.dev, pair.peer, peer_netns=peer_ns, mtu=mtu)
            links.set(pair.dev, up=True)
        with build.editing(pair.peer_ns) as links:
            links.set(pair.peer, up=True)
        yield pair
    finally:
        if owner_only(me):
            for ns in made:
                with contextlib.suppress(NetlinkError):
                    namespaces.remove(ns)
            # The balancer's pins and write lock, if a benchmark left them.
            for pinned in pinning.recorded_in(pair.ns):
                _remove_pins(pinned.path)


# -- pins -------------------------------------------------------------------------


@contextlib.contextmanager
def pin_area() -> Iterator[Path]:
    """A bpffs directory for this run's own objects, removed afterwards."""
    bpftool = Bpftool()
    try:
        bpftool.ensure_bpffs()
    except BpfError as exc:
        raise BenchError(str(exc)) from None
    me = os.getpid()
    area = BENCH_PIN_ROOT / str(me)
    area.mkdir(parents=True, exist_ok=True)
    try:
        yield area
    finally:
        if owner_only(me):
            _unpin(area, BENCH_PIN_ROOT)
            with contextlib.suppress(OSError):
                BENCH_PIN_ROOT.rmdir()


# -- CPU and sysctls ----------------------------------------------------------


def default_cpu() -> int:
    """The last CPU we may run on: CPU 0 takes most of the machine's interrupts."""
    return max(os.sched_getaffinity(0))


@contextlib.contextmanager
def pinned(cpu: int) -> Iterator[int]:
    before = os.sched_getaffinity(0)
    if cpu not in before:
        raise BenchError(f"CPU {cpu} is not available (allowed: {sorted(before)})")
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def _sysctl_path(key: str) -> Path:
    return Path("/proc/sys", *key.split("."))


def read_sysctl(key: str) -> str:
    return _sysctl_path(key).read_text().strip()


def _sysctl_marker(pid: int, key: str) -> Path:
    return SYSCTL_MARKS / f"{pid}-{key}"


@contextlib.contextmanager
def sysctl(key: str, value: str) -> Iterator[str]:
    """Set a sysctl for the block and put the old value back (as bpftop does).

    The old value is also written down under /run: should this process be
    killed outright, the next benchmark run puts it back (`reap_stale`).
    """
    path = _sysctl_path(key)
    me = os.getpid()
    # Overlapping runs share the value from before the first of them (in
    # its mark), and only the last one out puts it back.
    others = _live_marks(key, me)
    old = others[0].read_text().strip() if others else path.read_text().strip()
    mark = _sysctl_marker(me, key)
    SYSCTL_MARKS.mkdir(parents=True, exist_ok=True)
    mark.write_text(old)
    path.write_text(value)
    try:
        yield old
    finally:
        if owner_only(me):
            if not _live_marks(key, me):
                path.write_text(old)
            mark.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                SYSCTL_MARKS.rmdir()  # only when no other run's mark is left


def _live_marks(key: str, me: int) -> list[Path]:
    """The marks other live runs keep for `key`."""
    if not SYSCTL_MARKS.is_dir():
        return []
    found = []
    for mark in sorted(SYSCTL_MARKS.glob(f"*-{key}")):
        pid = mark.name.partition("-")[0]
        if pid.isdigit() and int(pid) != me and alive(int(pid)):
            found.append(mark)
    return found


def _restore_sysctls() -> list[str]:
    """Put back sysctls that benchmark runs killed outright had changed."""
    restored: list[str] = []
    if not SYSCTL_MARKS.is_dir():
        return restored
    for mark in SYSCTL_MARKS.iterdir():
        pid, _, key = mark.name.partition("-")
        if pid.isdigit() and not alive(int(pid)):
            if not _live_marks(key, int(pid)):  # else a live run puts it back
                with contextlib.suppress(OSError):
                    _sysctl_path(key).write_text(mark.read_text().strip())
                    restored.append(f"{key}={mark.read_text().strip()}")
            mark.unlink(missing_ok=True)
    return restored
