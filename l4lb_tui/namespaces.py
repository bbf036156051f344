"""The network-namespace adapter: which namespace a thread is in, and every
namespace this host can reach.

A namespace is known by its cookie (SO_NETNS_COOKIE on a socket made in it).
The kernel takes cookies from one counter that only grows, so a cookie names
one namespace for the whole boot; the inode of /proc/self/ns/net does not,
since the kernel reuses it once its namespace is gone.  Failures raise
NamespaceError with the system's own words.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from l4lb_tui.identity import Netns

_T = TypeVar("_T")

SO_NETNS_COOKIE = 71  # asm-generic/socket.h, since Linux 5.14
NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000
_HOST = "/proc/1/ns/net"
_INIT_NET_INO = 0xEFFFFFF9
_MINE = "/proc/thread-self/ns/net"
_NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3), linux/nsfs.h


class NamespaceError(Exception):
    """A namespace could not be read or entered."""


def _cookie() -> int:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8)
    except OSError as exc:
        raise NamespaceError(
            f"cannot read the network namespace's cookie: {exc.strerror} "
            "(SO_NETNS_COOKIE needs Linux 5.14 or later)"
        ) from None
    value: int = struct.unpack("=Q", raw)[0]
    return value


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


def here() -> Netns:
    """The calling thread's network namespace."""
    mine = _inode(_MINE)
    name = _names().get(mine, "") if mine else ""
    return Netns(_cookie(), name, _is_host(mine))


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NamespaceError(f"cannot enter a network namespace: {os.strerror(err)}")


def _candidates() -> list[str]:
    named = [str(p) for p in sorted(NETNS_DIR.iterdir())] if NETNS_DIR.is_dir() else []
    pids = sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int)
    return [*named, _HOST, *(f"/proc/{pid}/ns/net" for pid in pids)]


def _is_netns(fd: int) -> bool:
    """Whether `fd` is a network namespace.  A name under /run/netns need not
    be one: `ip netns add` makes the file before it mounts the namespace on
    it, and leaves it so when it is killed in between; entering it fails."""
    try:
        return fcntl.ioctl(fd, _NS_GET_NSTYPE) == _CLONE_NEWNET
    except OSError:
        return False


def _open_each(skipped: list[str] | None = None) -> list[int]:
    """A descriptor for each namespace reachable now, once each.  Holding it
    keeps the namespace alive until it is visited.  What is no namespace is
    left out, its path added to `skipped`."""
    seen: set[tuple[int, int]] = set()
    fds: list[int] = []
    for path in _candidates():
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # a process that has ended meanwhile
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) in seen or not _is_netns(fd):
            if (st.st_dev, st.st_ino) not in seen and skipped is not None:
                skipped.append(path)
            os.close(fd)
            continue
        seen.add((st.st_dev, st.st_ino))
        fds.append(fd)
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
    found: list[tuple[Netns, _T]] = []
    failed: list[BaseException] = []

    def visit() -> None:
        try:
            for fd in fds:
                _setns(fd)
                found.append((here(), inside()))
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)

    try:
        worker = threading.Thread(target=visit, name="l4lb-netns-survey")
        worker.start()
        worker.join()
    finally:
        for fd in fds:
            os.close(fd)
    if failed:
        raise failed[0]
    return found
