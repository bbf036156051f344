"""The lab's packet generator: BPF_PROG_TEST_RUN in live-frames mode, from
the client's namespace, out of the client's veth.

Debian 12's xdp-trafficgen (xdp-tools 1.3.1) would be the ready-made tool,
but it cannot load on kernels that dropped the xdp_redirect_map(_err)
tracepoints (6.18 has none): it fails before sending anything.  This is the
same technique with the dataplane bench's own programs: the restoring
wrapper (bench_wrap.c) puts the template frame back and gives packet n
source port 1024 + n mod `flows`, checksums fixed up, then tail-calls the
MAC-swap reflector (bench_refl.c), whose XDP_TX the kernel transmits on the
veth named in the run's context.  The template is built with its Ethernet
addresses the wrong way round, so the swap makes them right: from the
client's MAC to the balancer's.

One thread, pinned to one CPU, in the client's namespace (the ifindex of a
live run is looked up in the caller's).  Its run time is read from
schedstat, so the cost per packet can be stated per core even on a shared
machine.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from l4lb_bench import frames, napi
from l4lb_bench.dataplane import programs
from l4lb_bench.dataplane.packets import Kind
from l4lb_bench.errors import BenchError
from l4lb_tui import bpfsys
from l4lb_tui.netlink import namespaces

MAX_FLOWS = 1 << 14  # source ports 1024-17407 of one address (bench_wrap.c)
# Packets a test run: every run sets up a page pool and waits for an RCU
# grace period when it tears it down (milliseconds, more on a busy machine),
# so runs are long, a fraction of a second; the packets sent are counted by
# the wrapper itself (its tpl.seq), not by whole runs.
BATCH = 1 << 20
_SEQ_AT = frames.RESTORE_BYTES + 16  # struct bench_tpl: after w[], len, flags, l4_csum, udp


@dataclass(frozen=True, slots=True)
class Sample:
    sent: int
    run_ns: int  # the generator thread's run time so far


def template(src: str, dst: str, dport: int, client_mac: str, lb_mac: str) -> bytes:
    """A 60-byte UDP frame from `src`:1024 to `dst`:`dport`, its MACs swapped
    (the reflector behind the wrapper swaps them back)."""
    frame = frames.ipv4(src, dst, frames.PROTO_UDP, 1024, dport)
    return _mac(client_mac) + _mac(lb_mac) + frame[12:]


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


class Generator:
    """Sends from `ns`/`ifname` until stopped; `sample()` reads its progress."""

    def __init__(self, wrapped: programs.Wrapped, ns: str, ifname: str, cpu: int) -> None:
        self._wrapped = wrapped
        self._ns = ns
        self._ifname = ifname
        self._cpu = cpu
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._tid = 0
        self.error = ""
        self._thread = threading.Thread(target=self._main, name="l4lb-labgen", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)
        if self.error:
            raise BenchError(f"the generator: {self.error}")
        if not self._tid:
            raise BenchError("the generator did not start")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def sample(self) -> Sample:
        if self.error:
            raise BenchError(f"the generator stopped: {self.error}")
        raw = bpfsys.lookup(self._wrapped.tpl_fd, bytes(4), self._wrapped.tpl_info.value_size)
        (seq,) = struct.unpack_from("<Q", raw, _SEQ_AT)
        return Sample(seq, napi.run_ns(self._tid))

    def _main(self) -> None:
        try:
            os.sched_setaffinity(0, {self._cpu})  # this thread only
            # A signal pending on this thread ends a live run with EINTR: let
            # the others take them (SIGCHLD of every tool the bench runs).
            signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
            with namespaces.inside(self._ns):
                ifindex = socket.if_nametoindex(self._ifname)
                self._tid = threading.get_native_id()
                self._ready.set()
                while not self._stop.is_set():
                    self._send(ifindex)
        except (BenchError, OSError) as exc:
            self.error = str(exc)
        except Exception as exc:  # reported by sample(), never lost in the thread
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()

    def _send(self, ifindex: int) -> None:
        try:
            bpfsys.test_run(self._wrapped.fd, self._wrapped.frame, BATCH, True, ifindex)
        except bpfsys.BpfSysError as exc:
            if exc.errno != errno.EINTR:
                raise BenchError(str(exc)) from None


@contextlib.contextmanager
def generator(
    area: Path, ns: str, ifname: str, frame: bytes, flows: int, cpu: int
) -> Iterator[Generator]:
    """A started generator of `flows` UDP flows; stopped and unloaded on exit."""
    if not 1 <= flows <= MAX_FLOWS:
        raise BenchError(f"flows: 1 to {MAX_FLOWS:,} (source ports of one address)")
    kind = Kind("labgen", "lab flood", frame, "tx", "refl", 0.0, flows=flows)
    with programs.references(area) as refs:
        wrapped = programs.Wrapped(area, "labgen", refs[programs.REFL], kind)
        gen = Generator(wrapped, ns, ifname, cpu)
        try:
            gen.start()
            yield gen
        finally:
            gen.stop()
            wrapped.close()
