"""The programs timed and how they are loaded: the restoring wrapper around
each, the references, the cost probes, and the balancer's flow table kept
empty between runs."""

from __future__ import annotations

import array
import contextlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from l4lb_bench import frames, frames6, processes, sandbox
from l4lb_bench.dataplane.packets import CLIENT, VIP, XDP_DROP, XDP_PASS, XDP_TX, Kind
from l4lb_bench.errors import BenchError
from l4lb_tui import abi, bpfsys
from l4lb_tui.bpftool import BpfError, Bpftool
from l4lb_tui.paths import bpf_dir, bpf_object

WRAP_OBJ = "bench_wrap.o"
REFS_OBJ = "bench_refl.o"
COST_OBJ = "bench_cost.o"
CLEAR_OBJ = "bench_clear.o"
LB_OBJ = "l4lb_xdp.o"
FLOW_MAP = "flow_tags"  # emptied before every run of the balancer that it forwards
FLOW6_MAP = "flow6_tags"  # the same, for IPv6 kinds
WRAP_VARY_SADDR, WRAP_CYCLE_FLOWS, WRAP_VARY_SADDR6 = 1, 2, 4  # bench_wrap.c's tpl.flags


# Program names, in the order the report lists them.  DROP (the fixed cost
# of a test run through the wrapper) is timed with --costs only.
LB, REFL, PASS, DROP = "lb", "refl", "pass", "drop"
PROGRAMS = (LB, REFL, PASS)
REF_VERDICT = {REFL: XDP_TX, PASS: XDP_PASS, DROP: XDP_DROP}


@dataclass(frozen=True, slots=True)
class Probe:
    """A program of bench_cost.o: the reflector plus one piece of the balancer."""

    name: str
    section: str
    what: str
    on: tuple[str, ...]  # the kinds it is timed on


PROBES = (
    Probe(
        "+hash",
        "cost_hash_lookup",
        "one hash-map lookup, 4-byte key, a hit (the old vips)",
        ("udp-est",),
    ),
    Probe(
        "+array",
        "cost_array_lookup",
        "one array lookup (backends; the verifier inlines it)",
        ("udp-est",),
    ),
    Probe("+pcpu", "cost_percpu_count", "one per-CPU counter update (backend_stats)", ("udp-est",)),
    Probe("+ktime", "cost_ktime", "bpf_ktime_get_coarse_ns (flow ageing)", ("udp-est",)),
    Probe(
        "+bigtab",
        "cost_big_table",
        "read + write one slot of a 16 MiB array by flow hash (the flow table)",
        ("udp-est", "udp-new"),
    ),
    Probe(
        "+tag",
        "cost_tag_byte",
        "read + write one byte of a 512 KiB array by flow hash (the flow tags)",
        ("udp-est", "udp-new"),
    ),
    Probe(
        "+encap",
        "cost_encap",
        "IPIP encapsulation (adjust_head, 34 bytes, checksum) instead of the MAC swap",
        ("udp-est",),
    ),
)


def build_objects() -> None:
    """Build this benchmark's objects; the balancer's own is the operator's
    (`make -C bpf`): a stale one is only warned about."""
    if (bpf_dir() / "Makefile").is_file():
        objs = [WRAP_OBJ, REFS_OBJ, COST_OBJ, CLEAR_OBJ]
        processes.run(["make", "-s", "-C", str(bpf_dir()), *objs], timeout=120)
    for name in (WRAP_OBJ, REFS_OBJ, COST_OBJ, LB_OBJ):
        if not bpf_object(name).is_file():
            raise BenchError(f"{bpf_object(name)} is not built: run 'make -C {bpf_dir()}'")


def stale_object_note() -> str | None:
    obj = bpf_object(LB_OBJ)
    sources = [*bpf_dir().glob("l4lb_*.h"), bpf_dir() / "l4lb_xdp.c"]
    newer = [p.name for p in sources if p.exists() and p.stat().st_mtime > obj.stat().st_mtime]
    if newer:
        return f"{obj} is older than {', '.join(sorted(newer))}: timing the built object"
    return None


def template(kind: Kind) -> bytes:
    """bench_wrap.c's struct bench_tpl for a kind: the frame's head, and how
    the wrapper varies it (new flows, a cycle of flows, or neither)."""
    head = kind.frame[: frames.RESTORE_BYTES].ljust(frames.RESTORE_BYTES, b"\0")
    v6 = frames6.is_ipv6(kind.frame)
    proto = frames6.next_header(kind.frame) if v6 else kind.frame[23] if len(kind.frame) > 23 else 0
    offsets = frames6.L4_CSUM_OFFSET6 if v6 else frames.L4_CSUM_OFFSET
    varied = kind.new_flows or kind.flows > 0
    csum_off = offsets.get(proto, 0) if varied else 0
    if kind.flows and v6:
        raise BenchError(f"{kind.name}: the wrapper cycles IPv4 flows only")
    flags = 0
    if kind.new_flows:
        flags = WRAP_VARY_SADDR6 if v6 else WRAP_VARY_SADDR
    elif kind.flows:
        flags = WRAP_CYCLE_FLOWS
    # As stored in the frame: the wrapper's checksum arithmetic is byte-order blind.
    csum6 = int.from_bytes(kind.frame[csum_off : csum_off + 2], "little") if v6 and csum_off else 0
    udp = 1 if proto == frames.PROTO_UDP else 0
    return head + struct.pack(
        "<IIIIQQIIII", len(kind.frame), flags, csum_off, udp, 0, 0, kind.flows, 0, csum6, 0
    )


class Wrapped:
    """One wrapper instance: the restoring wrapper aimed at one program, with
    one frame template.  Held by fds only (its pins are removed at once), so
    it disappears with this process whatever happens."""

    def __init__(self, area: Path, tag: str, target_fd: int, kind: Kind) -> None:
        head = template(kind)
        pin = area / tag
        maps = area / f"{tag}-maps"
        try:
            Bpftool().run(
                [
                    "prog",
                    "load",
                    str(bpf_object(WRAP_OBJ)),
                    str(pin),
                    "type",
                    "xdp",
                    "pinmaps",
                    str(maps),
                ]
            )
            self.fd = bpfsys.obj_get(pin)
            self.tpl_fd = bpfsys.obj_get(maps / "tpl")
            # A prog array empties itself when its last user-space reference
            # goes: this fd is that reference.
            self.target_fd = bpfsys.obj_get(maps / "target")
            bpfsys.update(self.target_fd, abi.u32(0), abi.u32(target_fd))
        except (BpfError, bpfsys.BpfSysError) as exc:
            raise BenchError(f"loading the wrapper: {exc}") from None
        finally:
            for p in (pin, maps / "tpl", maps / "target"):
                with contextlib.suppress(OSError):
                    p.unlink()
            with contextlib.suppress(OSError):
                maps.rmdir()
        self.frame = kind.frame
        self.tpl_info = bpfsys.map_info(self.tpl_fd)
        self.template = head.ljust(self.tpl_info.value_size, b"\0")
        self.restart()

    def restart(self) -> None:
        """The template as first written: a cycle of flows starts at its first."""
        bpfsys.update(self.tpl_fd, abi.u32(0), self.template)

    def len_fixed(self) -> int:
        raw = bpfsys.lookup(self.tpl_fd, abi.u32(0), self.tpl_info.value_size)
        return int(struct.unpack_from("<Q", raw, frames.RESTORE_BYTES + 24)[0])

    def run(self, repeat: int, ifindex: int, live: bool) -> bpfsys.RunResult:
        try:
            return bpfsys.test_run(self.fd, self.frame, repeat, live=live, ifindex=ifindex)
        except bpfsys.BpfSysError as exc:
            raise BenchError(str(exc)) from None

    def close(self) -> None:
        for fd in (self.fd, self.tpl_fd, self.target_fd):
            os.close(fd)


@contextlib.contextmanager
def loaded_all(area: Path, obj: str, names: dict[str, str]) -> Iterator[dict[str, int]]:
    """fds of programs of one object (`names`: ours -> section function),
    loaded together (they share the object's maps) and unpinned at once."""
    where = area / obj.replace(".", "-")
    fds: dict[str, int] = {}
    try:
        Bpftool().run(["prog", "loadall", str(bpf_object(obj)), str(where), "type", "xdp"])
        for ours, func in names.items():
            fds[ours] = bpfsys.obj_get(where / func)
    except (BpfError, bpfsys.BpfSysError) as exc:
        for fd in fds.values():
            os.close(fd)
        raise BenchError(f"loading {obj}: {exc}") from None
    finally:
        if where.exists():
            for p in where.iterdir():
                p.unlink()
            where.rmdir()
    try:
        yield fds
    finally:
        for fd in fds.values():
            os.close(fd)


def references(area: Path) -> contextlib.AbstractContextManager[dict[str, int]]:
    return loaded_all(area, REFS_OBJ, {REFL: "bench_refl", PASS: "bench_pass", DROP: "bench_drop"})


def prime_probes(fds: dict[str, int]) -> None:
    """The hash probe must hit: put the VIP in its map."""
    if "+hash" not in fds:
        return
    for mid in bpfsys.prog_info(fds["+hash"]).map_ids:
        with bpfsys.opened(bpfsys.map_fd_by_id(mid)) as mfd:
            if bpfsys.map_info(mfd).name == "cost_hash":
                bpfsys.update(mfd, abi.ip_bytes(VIP), abi.u32(1))


class FlowTable:
    """The balancer's flow table: emptied before each forwarding run, so an
    established flow's first two packets take the ring (new, then stored) and
    the rest hit, and new flows meet an empty table (not the last run's marks
    for the same addresses, which would store every flow instead).

    Emptied by bench_clear.o run once on the balancer's own tags (about a
    millisecond); if that object does not fit the map (a data plane with
    another layout), by a batch update from here.  The IPv6 table's tags
    (flow6_tags) are the same kind of map and emptied the same way.
    """

    def __init__(self, area: Path, map_id: int, notes: list[str]) -> None:
        self.fd = bpfsys.map_fd_by_id(map_id)
        self.info = bpfsys.map_info(self.fd)
        self.clear_fd: int | None = None
        self._load_clear(area, map_id, notes)

    def _load_clear(self, area: Path, map_id: int, notes: list[str]) -> None:
        pin = area / "clear"
        argv = ["prog", "load", str(bpf_object(CLEAR_OBJ)), str(pin), "type", "xdp"]
        try:
            Bpftool().run([*argv, "map", "name", FLOW_MAP, "id", str(map_id)])
            self.clear_fd = bpfsys.obj_get(pin)
        except (BpfError, bpfsys.BpfSysError) as exc:
            notes.append(
                f"{CLEAR_OBJ} does not fit the flow table ({exc}): emptying it "
                "from user space, slowly"
            )
        finally:
            with contextlib.suppress(OSError):
                pin.unlink()

    def clear(self) -> None:
        if self.clear_fd is not None:
            done = bpfsys.test_run(self.clear_fd, frames.arp_request(CLIENT, VIP))
            if done.retval == XDP_PASS:
                return
            raise BenchError(f"{CLEAR_OBJ} did not empty the flow table")
        self._zero_from_user_space()

    def _zero_from_user_space(self, step: int = 1 << 16) -> None:
        zeros = bytes(self.info.value_size * step)
        for start in range(0, self.info.max_entries, step):
            n = min(step, self.info.max_entries - start)
            keys = array.array("I", range(start, start + n)).tobytes()
            bpfsys.update_batch(self.fd, self.info, keys, zeros[: n * self.info.value_size], n)

    def close(self) -> None:
        os.close(self.fd)
        if self.clear_fd is not None:
            os.close(self.clear_fd)


def attach_drop(veth: sandbox.VethPair, drop_fd: int) -> None:
    prog_id = bpfsys.prog_info(drop_fd).prog_id
    try:
        Bpftool().run(["net", "attach", "xdpdrv", "id", str(prog_id), "dev", veth.peer])
    except BpfError as exc:
        raise BenchError(f"attaching XDP_DROP to {veth.peer}: {exc}") from None


def lb_maps(lb_fd: int) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """The ids of the balancer's flow tables (arrays: FLOW_MAP and FLOW6_MAP
    when it has them), and fds of its extra u64 per-CPU counters (to report;
    they stay open for the process's life)."""
    flow: dict[str, int] = {}
    extra = []
    for mid in bpfsys.prog_info(lb_fd).map_ids:
        fd = bpfsys.map_fd_by_id(mid)
        info = bpfsys.map_info(fd)
        if info.name in (FLOW_MAP, FLOW6_MAP) and info.type == 2:
            flow[info.name] = mid
        if info.percpu and info.value_size == 8 and info.max_entries <= 64:
            extra.append((info.name, fd))
        else:
            os.close(fd)
    return flow, extra
