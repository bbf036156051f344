"""The netlink requests of an XDP mode switch, made by hand for speed.

The one part of the netlink adapter that does without pyroute2 (errors are
still its NetlinkError).  pyroute2 takes
~0.4 ms of Python to build a request and read its answer; between the detach
and the attach that is gap, in which the balancer balances nothing.  Here
both requests are encoded beforehand and sent together, so the gap is the
kernel's own.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

from l4lb_tui.netlink.errors import NetlinkError
from l4lb_tui.netlink.namespaces import CLONE_NEWNET, in_thread

# linux/netlink.h, linux/rtnetlink.h, linux/if_link.h
_RTM_SETLINK = 19
_NLMSG_ERROR = 2
_NLM_F_REQUEST, _NLM_F_ACK = 0x1, 0x4
_NLM_F_CAPPED, _NLM_F_ACK_TLVS = 0x100, 0x200
_SOL_NETLINK, _NETLINK_CAP_ACK, _NETLINK_EXT_ACK = 270, 10, 11
_NLMSGERR_ATTR_MSG = 1
_IFLA_XDP, _NLA_F_NESTED = 43, 0x8000
_IFLA_XDP_FD, _IFLA_XDP_FLAGS, _IFLA_XDP_EXPECTED_FD = 1, 3, 8
XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_REPLACE = 1 << 4
_MODE_FLAGS = {"driver": XDP_FLAGS_DRV_MODE, "generic": XDP_FLAGS_SKB_MODE}
_SIOCGIFFLAGS, _IFF_UP = 0x8913, 0x1
_LOOPBACK_IFINDEX = 1  # in every network namespace
_TIMEOUT = 5.0
_HEADER = struct.Struct("=IHHII")


@dataclass(frozen=True, slots=True)
class XdpSwitch:
    """Clock readings (CLOCK_MONOTONIC ns) around the one send() that
    carries a switch's detach and attach: the kernel handles both inside it,
    so the gap between them is at most `gap_ns`.  `anchored`: the program
    was held in the XDP dispatcher (see dispatcher_anchor), which is what
    keeps the two requests short.
    """

    sent_ns: int
    done_ns: int
    anchored: bool

    @property
    def gap_ns(self) -> int:
        return self.done_ns - self.sent_ns


def rtnl_socket() -> socket.socket:
    """A route netlink socket in the calling thread's network namespace,
    which answers refusals with the kernel's own words (extended ack)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        sock.setsockopt(_SOL_NETLINK, _NETLINK_EXT_ACK, 1)
        # Acks without a copy of the request.
        sock.setsockopt(_SOL_NETLINK, _NETLINK_CAP_ACK, 1)
        sock.bind((0, 0))
        sock.settimeout(_TIMEOUT)
    except OSError:
        sock.close()
        raise
    return sock


def set_xdp_request(
    seq: int, index: int, fd: int, flags: int, expected: int | None = None
) -> bytes:
    """RTM_SETLINK with IFLA_XDP: attach `fd` (or -1: detach) under `flags`."""
    attrs = struct.pack("=HHi", 8, _IFLA_XDP_FD, fd) + struct.pack(
        "=HHI", 8, _IFLA_XDP_FLAGS, flags
    )
    if expected is not None:
        attrs += struct.pack("=HHi", 8, _IFLA_XDP_EXPECTED_FD, expected)
    nest = struct.pack("=HH", 4 + len(attrs), _IFLA_XDP | _NLA_F_NESTED) + attrs
    ifinfo = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, 0, 0)
    body = ifinfo + nest
    flags_hdr = _NLM_F_REQUEST | _NLM_F_ACK
    return _HEADER.pack(_HEADER.size + len(body), _RTM_SETLINK, flags_hdr, seq, 0) + body


def ack_error(data: bytes) -> tuple[int, str]:
    """(errno, the kernel's message or "") of an NLMSG_ERROR answer; 0 is success."""
    length, kind, flags, _, _ = _HEADER.unpack_from(data)
    if kind != _NLMSG_ERROR or length < _HEADER.size + 4:
        return 0, ""
    (error,) = struct.unpack_from("=i", data, _HEADER.size)
    if error == 0 or not flags & _NLM_F_ACK_TLVS:
        return -error, ""
    request_len = _HEADER.size
    if not flags & _NLM_F_CAPPED:
        (request_len,) = struct.unpack_from("=I", data, _HEADER.size + 4)
    at = _HEADER.size + 4 + (request_len + 3) // 4 * 4
    while at + 4 <= min(length, len(data)):
        size, kind = struct.unpack_from("=HH", data, at)
        if size < 4:
            break
        if kind & 0x3FFF == _NLMSGERR_ATTR_MSG:
            return -error, data[at + 4 : at + size].split(b"\0", 1)[0].decode(errors="replace")
        at += (size + 3) // 4 * 4
    return -error, ""


def _say(code: int, message: str) -> str:
    plain = os.strerror(code)
    return f"{message} ({plain})" if message and message != plain else plain


def _acks(sock: socket.socket, seqs: tuple[int, ...]) -> dict[int, tuple[int, str]]:
    """Wait for the acks of requests `seqs`: (errno, message) by sequence."""
    found: dict[int, tuple[int, str]] = {}
    try:
        while len(found) < len(seqs):
            answer = sock.recv(65536)
            at = 0
            while at + _HEADER.size <= len(answer):
                length, _, _, seq, _ = _HEADER.unpack_from(answer, at)
                if seq in seqs:
                    found[seq] = ack_error(answer[at : at + length])
                at += max(_HEADER.size, (length + 3) // 4 * 4)
    except OSError as exc:
        raise NetlinkError(f"netlink request failed: {exc.strerror or exc}") from None
    return found


def _send(sock: socket.socket, payload: bytes) -> None:
    try:
        sock.send(payload)
    except OSError as exc:
        raise NetlinkError(f"netlink request failed: {exc.strerror or exc}") from None


def switch(sock: socket.socket, ifname: str, index: int, fd: int, old: str, new: str) -> XdpSwitch:
    """Move program `fd` on interface `index` from mode `old` to `new`.

    The kernel runs one of the two modes at a time ("Native and generic XDP
    can't be active at the same time"), so this is a detach and an attach.
    Both go in one datagram, which the kernel handles, one message after the
    other, inside the one send(): no round trip, and no wait for this
    process's other threads (the console's), comes between them.  The detach
    names the program it expects, so it never takes off one that replaced
    ours; a refused new mode puts the old one back.
    """
    if old not in _MODE_FLAGS or new not in _MODE_FLAGS:
        raise NetlinkError(f"cannot switch {ifname} from {old} to {new} mode")
    detach = set_xdp_request(1, index, -1, _MODE_FLAGS[old] | XDP_FLAGS_REPLACE, expected=fd)
    attach = set_xdp_request(2, index, fd, _MODE_FLAGS[new] | XDP_FLAGS_UPDATE_IF_NOEXIST)
    with dispatcher_anchor(fd) as anchored:
        sent = time.monotonic_ns()
        _send(sock, detach + attach)
        done = time.monotonic_ns()
        # Read, and a refusal undone, while the anchor still spares each
        # request its wait.
        _settle(sock, ifname, index, fd, old, new)
    return XdpSwitch(sent, done, anchored)


def _settle(sock: socket.socket, ifname: str, index: int, fd: int, old: str, new: str) -> None:
    """Read the switch's two acks; on a refused attach, attach in `old` mode again."""
    acks = _acks(sock, (1, 2))
    if acks[2][0] == 0:
        # On in the new mode, and nothing else is attached in either mode:
        # whatever the detach said, that is the switch asked for.
        return
    if acks[1][0]:
        # The attach was refused too: nothing changed.
        raise NetlinkError(f"cannot detach from {old} mode on {ifname}: {_say(*acks[1])}")
    refused = _say(*acks[2])
    _send(sock, set_xdp_request(3, index, fd, _MODE_FLAGS[old] | XDP_FLAGS_UPDATE_IF_NOEXIST))
    code, message = _acks(sock, (3,))[3]
    if code:
        raise NetlinkError(
            f"the kernel refused {new} mode on {ifname} ({refused}) and then "
            f"{old} mode ({_say(code, message)}): the program is not attached"
        )
    raise NetlinkError(f"the kernel refused {new} mode on {ifname}: {refused}; back in {old} mode")


@contextlib.contextmanager
def dispatcher_anchor(fd: int) -> Iterator[bool]:
    """Hold the program in the kernel's XDP dispatcher through a switch.

    An XDP attach or detach that adds a program to the dispatcher (one
    direct-call trampoline for every XDP program of the system) or removes
    it waits for an RCU grace period: ~16 ms on every request here, which
    would all be gap.  While the program is attached somewhere else it stays
    in the dispatcher, and a request takes ~0.05 ms.  So for the switch it
    is also attached, in generic mode, to the loopback of a new and empty
    network namespace, which is down and reached by no packet; the namespace
    lives only as long as its socket, and that attachment with it.  Best
    effort: without it the switch is only slower.
    """
    sock = _empty_netns_socket()
    if sock is None:
        yield False
        return
    with sock:
        try:
            _send(sock, set_xdp_request(1, _LOOPBACK_IFINDEX, fd, XDP_FLAGS_SKB_MODE))
            anchored = _acks(sock, (1,))[1][0] == 0
        except NetlinkError:
            anchored = False
        try:
            yield anchored
        finally:
            if anchored:
                with contextlib.suppress(NetlinkError):
                    _send(sock, set_xdp_request(2, _LOOPBACK_IFINDEX, -1, XDP_FLAGS_SKB_MODE))
                    _acks(sock, (2,))


def _empty_netns_socket() -> socket.socket | None:
    """A netlink socket in a new network namespace that holds nothing but a
    loopback that is down; None if none can be made (no CAP_SYS_ADMIN)."""
    here = os.stat("/proc/thread-self/ns/net").st_ino

    def make() -> socket.socket | None:
        # A socket belongs to the namespace of the thread that opens it; this
        # short-lived thread is the only one that leaves ours.
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) != 0:
            return None
        if os.stat("/proc/thread-self/ns/net").st_ino == here:
            return None
        # Never anything a packet could reach: a namespace with more in it
        # is not the one just made.
        if socket.if_nameindex() != [(_LOOPBACK_IFINDEX, "lo")]:
            return None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            raw = fcntl.ioctl(probe, _SIOCGIFFLAGS, struct.pack("16sH14x", b"lo", 0))
        if struct.unpack_from("16sH", raw)[1] & _IFF_UP:
            return None
        return rtnl_socket()

    try:
        return in_thread(make, "l4lb-anchor-netns")
    except OSError:
        return None  # best effort: the switch is only slower without it
