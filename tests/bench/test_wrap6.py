"""The restoring wrapper's IPv6 new flows (bench_wrap.c, BENCH_VARY_SADDR6),
run in the kernel around the reflector: every packet a new source, its
TCP/UDP checksum still right, nothing else of the frame changed."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_bench import frames, frames6, sandbox
from l4lb_bench.dataplane import kinds
from l4lb_bench.dataplane.packets import Kind
from l4lb_bench.dataplane.programs import REFL, Wrapped, build_objects, references
from l4lb_tui import abi, bpfsys

pytestmark = pytest.mark.kernel

_SEQ_AT = frames.RESTORE_BYTES + 16  # bench_tpl.seq
_SADDR = slice(22, 38)


@pytest.fixture(scope="module")
def area() -> Iterator[Path]:
    build_objects()
    with sandbox.pin_area() as where:
        yield where


def _kind(name: str) -> Kind:
    return next(k for k in kinds() if k.name == name)


def _unvaried(frame: bytes) -> bytes:
    """The frame without what the wrapper varies and the reflector swaps."""
    off = frames6.L4_CSUM_OFFSET6[frames6.next_header(frame)]
    out = bytearray(frame)
    out[:12] = bytes(12)
    out[_SADDR] = bytes(16)
    out[off : off + 2] = b"\0\0"
    return bytes(out)


@pytest.mark.parametrize("name", ["udp6-new", "syn6-new"])
def test_every_packet_is_a_new_ipv6_source_with_right_checksums(area: Path, name: str) -> None:
    kind = _kind(name)
    with references(area) as refs:
        w = Wrapped(area, f"v17-{name}", refs[REFL], kind)
        try:
            sources = set()
            # Across the carries of the one's-complement sum and the 32-bit wrap.
            for seq in (0, 1, 2, 0xFFFF, 0x10000, 0x1234567, 0xFFFFFFFE, 0xFFFFFFFF):
                tpl = bytearray(w.template)
                struct.pack_into("<Q", tpl, _SEQ_AT, seq)
                bpfsys.update(w.tpl_fd, abi.u32(0), bytes(tpl))
                out = w.run(1, 0, live=False).data
                assert len(out) == len(kind.frame)
                assert frames6.l4_checksum_ok(out), (name, seq)
                assert _unvaried(out) == _unvaried(kind.frame)
                low = int.from_bytes(kind.frame[34:38], "big")
                assert int.from_bytes(out[34:38], "big") == (low + seq) & 0xFFFFFFFF
                sources.add(out[_SADDR])
            assert len(sources) == 8
        finally:
            w.close()


def test_ipv6_established_frames_are_not_varied(area: Path) -> None:
    kind = _kind("udp6-est")
    with references(area) as refs:
        w = Wrapped(area, "v17-udp6-est", refs[REFL], kind)
        try:
            outs = {w.run(1, 0, live=False).data[12:] for _ in range(3)}
        finally:
            w.close()
    assert outs == {kind.frame[12:]}
