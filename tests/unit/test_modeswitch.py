"""Mode switch logic without a kernel: netlink encoding, ack parsing, reports."""

from __future__ import annotations

import socket
import struct

from l4lb_tui import bpfsys
from l4lb_tui.control.modeswitch import Held, SwitchReport, gap_warning, held_from
from l4lb_tui.netlink import xdpswitch
from l4lb_tui.netlink.xdpswitch import XdpSwitch


def _attrs(payload: bytes) -> dict[int, bytes]:
    out = {}
    at = 0
    while at + 4 <= len(payload):
        size, kind = struct.unpack_from("=HH", payload, at)
        out[kind] = payload[at + 4 : at + size]
        at += (size + 3) // 4 * 4
    return out


def test_set_xdp_request_layout() -> None:
    msg = xdpswitch.set_xdp_request(7, 42, 9, xdpswitch.XDP_FLAGS_DRV_MODE, expected=9)
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", msg)
    assert (length, kind, seq) == (len(msg), 19, 7)  # RTM_SETLINK
    assert flags == 0x1 | 0x4  # a request that wants its ack
    family, _, index = struct.unpack_from("=BxHi", msg, 16)
    assert (family, index) == (socket.AF_UNSPEC, 42)
    (xdp,) = _attrs(msg[32:]).items()
    assert xdp[0] == 43 | 0x8000  # IFLA_XDP, nested
    inner = _attrs(xdp[1])
    assert struct.unpack("=i", inner[1]) == (9,)  # IFLA_XDP_FD
    assert struct.unpack("=I", inner[3]) == (xdpswitch.XDP_FLAGS_DRV_MODE,)
    assert struct.unpack("=i", inner[8]) == (9,)  # IFLA_XDP_EXPECTED_FD


def test_detach_request_has_no_expected_fd_unless_asked() -> None:
    msg = xdpswitch.set_xdp_request(1, 3, -1, xdpswitch.XDP_FLAGS_SKB_MODE)
    (xdp,) = _attrs(msg[32:]).values()
    inner = _attrs(xdp)
    assert set(inner) == {1, 3} and struct.unpack("=i", inner[1]) == (-1,)


def _ack(error: int, message: bytes | None, capped: bool = True) -> bytes:
    request = struct.pack("=IHHII", 32, 19, 5, 1, 0) + bytes(16)
    echoed = request[:16] if capped else request
    tlvs = b""
    flags = 0x100 if capped else 0
    if message is not None:
        text = message + b"\0"
        tlvs = struct.pack("=HH", 4 + len(text), 1) + text
        tlvs += bytes(-len(tlvs) % 4)
        flags |= 0x200
    body = struct.pack("=i", error) + echoed + tlvs
    return struct.pack("=IHHII", 16 + len(body), 2, flags, 1, 0) + body


def test_ack_error_reads_the_kernels_message() -> None:
    assert xdpswitch.ack_error(_ack(0, None)) == (0, "")
    assert xdpswitch.ack_error(_ack(-17, b"Native and generic XDP can't be active")) == (
        17,
        "Native and generic XDP can't be active",
    )
    assert xdpswitch.ack_error(_ack(-34, b"Peer MTU is too large", capped=False)) == (
        34,
        "Peer MTU is too large",
    )
    assert xdpswitch.ack_error(_ack(-22, None)) == (22, "")


def test_held_sums_every_cpu() -> None:
    stats = [(3, 300, 50, 90), (0, 0, 0, 0), (2, 200, 40, 70)]
    raw = b"".join(v.to_bytes(8, "little") for cpu in stats for v in cpu)
    assert held_from(bpfsys.ArrayDump(raw, 1, 3, 32, 32)) == Held(5, 500, 40, 90)


def _report(held: Held | None, problem: str = "") -> str:
    timing = XdpSwitch(1_000_000, 1_120_000, anchored=True)
    return SwitchReport("eth0", "driver", "generic", timing, held, problem).message()


def test_switch_messages_are_one_line_with_the_gap() -> None:
    assert _report(Held()) == (
        "switched eth0 from driver to generic mode (gap 0.12 ms, no packet arrived in it)"
    )
    assert "1 packet held back for the clients to retransmit" in _report(Held(1, 60, 1, 1))
    assert "3 packets held back" in _report(Held(3, 180, 1, 2))
    assert _report(None).endswith("(gap 0.12 ms)")
    unguarded = _report(None, "tcx ingress attach: Invalid argument")
    assert "unguarded (tcx ingress attach: Invalid argument)" in unguarded
    assert "may have been reset" in unguarded
    assert all("\n" not in m for m in (unguarded, _report(Held())))


def test_the_warning_says_what_the_gap_costs() -> None:
    text = gap_warning("eth0", "driver", "generic")
    assert "eth0" in text and "one mode at a time" in text
    assert "retransmit" in text and "no connection is reset" in text


class _Kernel:
    """A netlink socket whose acks are scripted: errno by sequence number."""

    def __init__(self, errors: dict[int, int]) -> None:
        self.errors = errors
        self.sent: list[bytes] = []
        self.pending: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        at = 0
        while at < len(data):
            length, _, _, seq, _ = struct.unpack_from("=IHHII", data, at)
            ack = _ack(-self.errors.get(seq, 0), b"said the kernel" if seq in self.errors else None)
            self.pending.append(ack[:8] + struct.pack("=I", seq) + ack[12:])
            at += length
        return len(data)

    def recv(self, size: int) -> bytes:
        return self.pending.pop(0)


def _settle(errors: dict[int, int]) -> tuple[str, int]:
    kernel = _Kernel(errors)
    kernel.send(b"".join(xdpswitch.set_xdp_request(s, 3, 9, 0) for s in (1, 2)))
    try:
        xdpswitch._settle(kernel, "eth0", 3, 9, "driver", "generic")  # type: ignore[arg-type]
    except xdpswitch.NetlinkError as exc:
        return str(exc), len(kernel.sent)
    return "", len(kernel.sent)


def test_a_switch_settles_by_what_the_kernel_answered() -> None:
    assert _settle({}) == ("", 1)
    # The new mode is on: whatever the detach said, nothing else is attached.
    assert _settle({1: 17}) == ("", 1)
    both, sent = _settle({1: 17, 2: 17})
    assert both.startswith("cannot detach from driver mode on eth0: said the kernel") and sent == 1
    back, sent = _settle({2: 34})
    assert back.endswith("said the kernel (Numerical result out of range); back in driver mode")
    assert sent == 2, "the old mode is asked for again"
    lost, _ = _settle({2: 34, 3: 22})
    assert "then driver mode (said the kernel (Invalid argument))" in lost
    assert lost.endswith("the program is not attached")
