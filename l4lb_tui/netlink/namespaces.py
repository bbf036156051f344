"""Network namespaces: which one a thread is in, entering one, and every one
this host can reach.

A namespace is known by its cookie (SO_NETNS_COOKIE on a socket made in it).
The kernel takes cookies from one counter that only grows, so a cookie names
one namespace for the whole boot; the inode of /proc/self/ns/net does not,
since the kernel reuses it once its namespace is gone.

setns(2) moves only the calling thread, and a thread starts in the
namespace of the thread that makes it: work meant for another namespace
runs in a helper thread (`call_in`), so this process stays where it is.
Failures raise NetlinkError with the system's own words.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

from l4lb_tui import validation
from l4lb_tui.identity import Netns
from l4lb_tui.netlink.errors import NetlinkError

_T = TypeVar("_T")

SO_NETNS_COOKIE = 71  # asm-generic/socket.h, since Linux 5.14
NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
_HOST = "/proc/1/ns/net"
_INIT_NET_INO = 0xEFFFFFF9
_MINE = "/proc/thread-self/ns/net"


def in_thread(fn: Callable[[], _T], name: str) -> _T:
    """fn() in a new thread, which starts in the calling thread's namespace;
    its result, or its exception raised here."""
    done: list[_T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)

    worker = threading.Thread(target=run, name=name)
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    return done[0]


def setns(fd: int, what: str = "a network namespace") -> None:
    """Move the calling thread into the namespace `fd` refers to."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetlinkError(f"cannot enter {what}: {os.strerror(err)}")


def open_named(name: str) -> int:
    """A descriptor of the namespace called `name` under /run/netns."""
    try:
        return os.open(NETNS_DIR / _valid(name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NetlinkError(f"network namespace {name} does not exist") from None
    except PermissionError:
        raise NetlinkError(f"network namespace {name}: permission denied (are you root?)") from None


def enter_netns(name: str) -> None:
    """Move the calling thread into a named network namespace, keeping its
    mounts.

    Unlike `ip netns exec`, this keeps the host's /sys/fs/bpf, so pins made
    here outlive the process.  For a whole process, call it before any
    thread starts: threads inherit the namespace of the thread that creates
    them.
    """
    fd = open_named(name)
    try:
        setns(fd, f"network namespace {name}")
    finally:
        os.close(fd)


def call_in(name: str | None, fn: Callable[[], _T]) -> _T:
    """fn() in the named namespace (None: right here).

    For calls that name an interface by index (bpf(2), ioctls), which the
    kernel looks up in the calling thread's namespace, and for sockets
    that must belong to a namespace: a helper thread enters it.
    """
    if not name:
        return fn()
    ns = name

    def inside() -> _T:
        enter_netns(ns)
        return fn()

    return in_thread(inside, f"l4lb-netns-{ns}")


@contextlib.contextmanager
def inside(name: str) -> Iterator[None]:
    """The calling thread in the named namespace for the block, then back
    (for code that makes its own threads and sockets there)."""
    home = os.open(_MINE, os.O_RDONLY | os.O_CLOEXEC)
    try:
        enter_netns(name)
        try:
            yield
        finally:
            setns(home, "the original network namespace")
    finally:
        os.close(home)


def socket_in(name: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket that belongs to the named namespace, whoever uses it later."""
    return call_in(name, lambda: socket.socket(family, kind, proto))


# -- which namespace ---------------------------------------------------------


def _cookie() -> int:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8)
    except OSError as exc:
        raise NetlinkError(
            f"cannot read the network namespace's cookie: {exc.strerror} "
            "(SO_NETNS_COOKIE needs Linux 5.14 or later)"
        ) from None
    value: int = struct.unpack("=Q", raw)[0]
    return value


def _nsfs() -> int:
    """The device of the namespace filesystem: every namespace's file, and
    every name mounted on one, is on it."""
    return os.stat(_MINE).st_dev


def _inode(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _names() -> dict[tuple[int, int], str]:
    """Each named namespace's inode (now: an inode is only compared with
    another taken at the same moment) and its first name."""
    found: dict[tuple[int, int], str] = {}
    try:
        entries = sorted(NETNS_DIR.iterdir())
    except OSError:
        return found
    for path in entries:
        key = _inode(path)
        if key is not None:
            found.setdefault(key, path.name)
    return found


def _is_host(mine: tuple[int, int] | None) -> bool:
    # The initial namespace's inode is fixed (PROC_NET_INIT_INO, proc_ns.h);
    # in a container, PID 1's is the host's as far as l4lb can tell.  PID
    # 1's may be unreadable even to root (ptrace rules), hence both.
    return mine is not None and (mine[1] == _INIT_NET_INO or mine == _inode(_HOST))


def name_here() -> str:
    """The name under /run/netns of the calling thread's namespace ("": none)."""
    mine = _inode(_MINE)
    return _names().get(mine, "") if mine else ""


def here() -> Netns:
    """The calling thread's network namespace."""
    return Netns(_cookie(), name_here(), _is_host(_inode(_MINE)))


def _candidates() -> list[str]:
    named = [str(p) for p in sorted(NETNS_DIR.iterdir())] if NETNS_DIR.is_dir() else []
    pids = sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int)
    return [*named, _HOST, *(f"/proc/{pid}/ns/net" for pid in pids)]


def _open_each(skipped: list[str] | None = None) -> list[tuple[int, int]]:
    """A descriptor for each namespace reachable now, once each, with the
    PID it was found through (0: a name).  Holding it keeps the namespace
    alive until it is visited.  A name under /run/netns that holds no
    namespace is left out, its path added to `skipped`."""
    seen: set[tuple[int, int]] = set()
    fds: list[tuple[int, int]] = []
    nsfs = _nsfs()
    for path in _candidates():
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # a process that has ended meanwhile
        st = os.fstat(fd)
        if st.st_dev != nsfs or (st.st_dev, st.st_ino) in seen:
            # Not a namespace: a name being made or removed right now, or
            # the file a killed `ip netns add` left.
            if st.st_dev != nsfs and skipped is not None and path.startswith(str(NETNS_DIR)):
                skipped.append(path)
            os.close(fd)
            continue
        seen.add((st.st_dev, st.st_ino))
        pid = path.split("/")[2] if path.startswith("/proc/") else ""
        fds.append((fd, int(pid) if pid.isdigit() else 0))
    return fds


def survey(inside: Callable[[], _T], skipped: list[str] | None = None) -> list[tuple[Netns, _T]]:
    """`inside()` run in every network namespace this host can reach: the
    named ones (/run/netns), and every process's.

    A namespace that neither has a name there nor a process in it (held only
    by a bind mount elsewhere) cannot be found, and is not in the list.  A
    name under /run/netns that is no namespace is passed over (one such file
    must not stop a survey), its path added to `skipped`.  A helper thread
    enters each in turn, so this process stays where it is.
    """
    fds = _open_each(skipped)

    def visit() -> list[tuple[Netns, _T]]:
        found = []
        for fd, pid in fds:
            setns(fd)
            found.append((dataclasses.replace(here(), pid=pid), inside()))
        return found

    try:
        return in_thread(visit, "l4lb-netns-survey")
    finally:
        for fd, _ in fds:
            os.close(fd)


# -- named namespaces: made, removed, what runs in them -------------------------


def listed() -> list[str]:
    """The names under /run/netns."""
    from pyroute2 import netns as pyroute_netns

    return sorted(pyroute_netns.listnetns())


def unfinished(name: str) -> bool:
    """A name under /run/netns that holds no namespace: the file a create
    makes before it mounts the namespace on it (for a moment, or for good
    when the create was killed in between).  Entering it fails; removing it
    works."""
    try:
        return os.stat(NETNS_DIR / name).st_dev != _nsfs()
    except OSError:
        return False


def create(name: str) -> None:
    """Make a named namespace (as `ip netns add` does), unless it exists."""
    from pyroute2 import netns as pyroute_netns

    if _valid(name) in pyroute_netns.listnetns():
        return
    try:
        pyroute_netns.create(name)
    except OSError as exc:
        raise NetlinkError(f"create namespace {name}: {exc}") from None


def remove(name: str) -> None:
    """Unmount and unlink a named namespace (none: nothing to do); the kernel
    frees it once no process is left in it."""
    from pyroute2 import netns as pyroute_netns

    try:
        pyroute_netns.remove(_valid(name))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise NetlinkError(f"remove namespace {name}: {exc}") from None


def pids(names: Iterable[str]) -> dict[str, list[int]]:
    """What `ip netns pids` reports, for several namespaces in one /proc scan."""
    from pyroute2 import netns as pyroute_netns

    wanted = set(names)
    return {ns: sorted(p) for ns, p in pyroute_netns.ns_pids().items() if ns in wanted}


# For write_sysctls: IPv6 off, on every link made afterwards too.  Router
# solicitations, DAD and neighbour discovery would otherwise cross a bridge,
# a balancer or a program under test at random moments, blurring every
# packet count.
IPV6_OFF = {
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
}


def write_sysctls(name: str, values: Mapping[str, str]) -> None:
    """Set `net.*` sysctls as seen from inside the named namespace: /proc/sys/net
    answers for the namespace of the thread that opens it."""

    def write() -> None:
        for key, value in values.items():
            try:
                Path("/proc/sys", *key.split(".")).write_text(value)
            except OSError as exc:
                raise NetlinkError(f"{key}={value} in {name}: {exc.strerror}") from None

    call_in(name, write)


def _valid(name: str) -> str:
    try:
        return validation.netns_name(name)
    except ValueError as exc:
        raise NetlinkError(str(exc)) from None
