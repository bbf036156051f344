"""`l4lb bench dataplane`: what one packet costs the balancer, per kind of packet.

Method (see BENCHMARKS.md):
  * BPF_PROG_TEST_RUN in live-frames mode on a veth pair in a namespace of
    this run; the peer drops what it receives (it must run XDP to receive
    XDP_TX frames at all), so XDP_TX really transmits;
  * every program behind the restoring wrapper (bpf/bench_wrap.c), and the
    wrapper checked to restore every byte each program rewrites;
  * references timed through the same wrapper, in the same run: the MAC-swap
    XDP_TX reflector and bare XDP_PASS (with --costs also XDP_DROP, the fixed
    cost, and the what-costs-what probes of bpf/bench_cost.c);
  * this process pinned to one CPU, programs interleaved round by round, the
    median of each program's ns/packet and of its round-by-round ratio;
  * new flows made by the wrapper (a new source address every packet), the
    flow table emptied before each forwarding run (bpf/bench_clear.c);
  * every timed run checked: the balancer's counters grew by exactly the
    repeat count on the expected counter, the peer received exactly the
    frames a program transmitted, an established flow hit the flow table and
    a new one never did.  A figure whose checks fail is reported as such.
"""

from __future__ import annotations

import array
import contextlib
import os
import re
import socket
import statistics
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from l4lb_bench import defaults, frames, sandbox
from l4lb_bench.chart import bars, fmt_ns, fmt_ratio, table
from l4lb_bench.errors import BenchError
from l4lb_tui import bpfsys
from l4lb_tui import layout as L
from l4lb_tui.balancer import Balancer, Counters
from l4lb_tui.bpf import BpfError, Bpftool
from l4lb_tui.destinations import Destination
from l4lb_tui.paths import bpf_dir, bpf_object
from l4lb_tui.services import parse_service

VIP = "10.0.0.4"
SADDR = "10.0.0.1"
CLIENT = "10.1.0.2"
SERVICES = (f"{VIP}:8080/tcp", f"{VIP}:9000/udp")
BACKENDS = tuple(Destination(f"10.0.0.{11 + i}", f"02:00:00:00:00:{11 + i:02x}") for i in range(3))
# Encapsulation adds 20 bytes: the veth pair gets room for a full 1500-byte
# frame plus the outer header, as a balancer's link must have.
BENCH_MTU = 1600
WRAP_OBJ = "bench_wrap.o"
REFS_OBJ = "bench_refl.o"
COST_OBJ = "bench_cost.o"
CLEAR_OBJ = "bench_clear.o"
LB_OBJ = "l4lb_xdp.o"
FLOW_MAP = "flow_tags"  # emptied before every run of the balancer that it forwards

XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX = 0, 1, 2, 3
VERDICT_NAMES = {XDP_ABORTED: "ABORTED", XDP_DROP: "DROP", XDP_PASS: "PASS", XDP_TX: "TX"}
TX = "tx"  # Kind.expect for packets the balancer must forward


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    what: str
    frame: bytes
    expect: str  # TX, or the name of the reason counter that must count it
    ref: str  # the reference its target is set against
    target: float  # the most its median ratio to `ref` may be
    new_flows: bool = False  # the wrapper makes every packet a new flow
    extra: bool = False  # timed only with --costs (or when named with --kind)


def kinds() -> tuple[Kind, ...]:
    tcp, udp = frames.PROTO_TCP, frames.PROTO_UDP
    return (
        Kind(
            "syn-new",
            f"TCP SYN to {VIP}:8080, a new flow every packet",
            frames.ipv4(CLIENT, VIP, tcp, 40000, 8080),
            TX,
            "refl",
            1.5,
            new_flows=True,
        ),
        Kind(
            "udp-new",
            f"UDP to {VIP}:9000, a new flow every packet",
            frames.ipv4(CLIENT, VIP, udp, 40000, 9000),
            TX,
            "refl",
            1.5,
            new_flows=True,
        ),
        Kind(
            "tcp-est",
            f"TCP ACK to {VIP}:8080, one established flow",
            frames.ipv4(CLIENT, VIP, tcp, 40001, 8080, tcp_flags=frames.TCP_ACK),
            TX,
            "refl",
            1.3,
            extra=True,
        ),
        Kind(
            "udp-est",
            f"UDP to {VIP}:9000, one established flow",
            frames.ipv4(CLIENT, VIP, udp, 40001, 9000),
            TX,
            "refl",
            1.3,
        ),
        Kind(
            "udp-1500",
            f"1500-byte UDP frame to {VIP}:9000, established",
            frames.ipv4(CLIENT, VIP, udp, 40002, 9000, size=1500),
            TX,
            "refl",
            1.3,
        ),
        Kind(
            "not-vip",
            "UDP to 10.0.0.9:53, not a VIP (host traffic)",
            frames.ipv4(CLIENT, "10.0.0.9", udp, 40000, 53),
            "PASS_NOT_VIP",
            "pass",
            1.1,
        ),
        Kind(
            "vip-port",
            f"TCP SYN to {VIP}:22, the VIP but no such service",
            frames.ipv4(CLIENT, VIP, tcp, 40000, 22),
            "PASS_NO_SERVICE",
            "pass",
            1.1,
            extra=True,
        ),
        Kind(
            "arp",
            f"ARP who-has {VIP}",
            frames.arp_request(CLIENT, VIP),
            "PASS_NOT_IPV4",
            "pass",
            1.1,
        ),
    )


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


@dataclass(frozen=True, slots=True)
class Options:
    repeat: int = defaults.DATAPLANE_REPEAT
    rounds: int = defaults.DATAPLANE_ROUNDS
    cpu: int | None = None
    only: tuple[str, ...] = ()  # kind names; empty: all
    costs: bool = False  # also XDP_DROP, the extra kinds and the bench_cost.o probes


# -- results ----------------------------------------------------------------------


@dataclass(slots=True)
class Series:
    """One program on one kind of packet: its runs and what they were checked for."""

    verdict: int = -1
    problems: list[str] = field(default_factory=list)  # every failed check, in words
    ns: list[int] = field(default_factory=list)  # per round
    extra: dict[str, int] = field(default_factory=dict)  # e.g. flow-table outcomes

    @property
    def median(self) -> float:
        return statistics.median(self.ns) if self.ns else float("nan")


@dataclass(slots=True)
class KindResult:
    kind: Kind
    series: dict[str, Series]

    def ratio(self, prog: str, ref: str) -> float:
        a, b = self.series[prog].ns, self.series[ref].ns
        if not a or len(a) != len(b):
            return float("nan")
        return statistics.median(x / y for x, y in zip(a, b, strict=True))

    def delta(self, prog: str, ref: str) -> float:
        """Median of round-by-round differences, ns/packet."""
        a, b = self.series[prog].ns, self.series[ref].ns
        if not a or len(a) != len(b):
            return float("nan")
        return statistics.median(x - y for x, y in zip(a, b, strict=True))

    @property
    def target_ratio(self) -> float:
        return self.ratio(LB, self.kind.ref)

    @property
    def verified(self) -> bool:
        """The balancer and the references did what they do in production."""
        return all(not self.series[p].problems for p in PROGRAMS if p in self.series)

    @property
    def meets_target(self) -> bool:
        return self.verified and self.target_ratio <= self.kind.target


@dataclass(frozen=True, slots=True)
class MapProfile:
    name: str
    type_name: str
    max_entries: int
    value_size: int
    refs: int  # places in the translated program that load this map


@dataclass(frozen=True, slots=True)
class ProgProfile:
    name: str
    prog_id: int
    xlated_bytes: int
    jited_bytes: int
    xlated_insns: int
    verified_insns: int
    maps: tuple[MapProfile, ...]
    helpers: dict[str, int]  # helper calls left in the translated program


@dataclass(slots=True)
class DataplaneReport:
    options: Options
    host: sandbox.Host
    cpu: int
    veth: sandbox.VethPair
    results: list[KindResult]
    profiles: dict[str, ProgProfile]
    wrapper_len_fixed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(not s.problems for r in self.results for s in r.series.values())


# -- loading ----------------------------------------------------------------------


def build_objects() -> None:
    """Build this benchmark's objects; the balancer's own is the operator's
    (`make -C bpf`): a stale one is only warned about."""
    if (bpf_dir() / "Makefile").is_file():
        objs = [WRAP_OBJ, REFS_OBJ, COST_OBJ, CLEAR_OBJ]
        sandbox.run(["make", "-s", "-C", str(bpf_dir()), *objs], timeout=120)
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


class Wrapped:
    """One wrapper instance: the restoring wrapper aimed at one program, with
    one frame template.  Held by fds only (its pins are removed at once), so
    it disappears with this process whatever happens."""

    def __init__(self, area: Path, tag: str, target_fd: int, kind: Kind) -> None:
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
            bpfsys.update(self.target_fd, L.u32(0), L.u32(target_fd))
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
        head = kind.frame[: frames.RESTORE_BYTES].ljust(frames.RESTORE_BYTES, b"\0")
        proto = kind.frame[23] if len(kind.frame) > 23 else 0
        csum_off = frames.L4_CSUM_OFFSET.get(proto, 0) if kind.new_flows else 0
        value = head + struct.pack(
            "<IIIIQQ",
            len(kind.frame),
            1 if kind.new_flows else 0,
            csum_off,
            1 if proto == frames.PROTO_UDP else 0,
            0,
            0,
        )
        bpfsys.update(self.tpl_fd, L.u32(0), value.ljust(self.tpl_info.value_size, b"\0"))

    def len_fixed(self) -> int:
        raw = bpfsys.lookup(self.tpl_fd, L.u32(0), self.tpl_info.value_size)
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


def _prime_probes(fds: dict[str, int]) -> None:
    """The hash probe must hit: put the VIP in its map."""
    if "+hash" not in fds:
        return
    for mid in bpfsys.prog_info(fds["+hash"]).map_ids:
        with bpfsys.opened(bpfsys.map_fd_by_id(mid)) as mfd:
            if bpfsys.map_info(mfd).name == "cost_hash":
                bpfsys.update(mfd, L.ip_bytes(VIP), L.u32(1))


# -- checks -----------------------------------------------------------------------


def peer_xdp_packets(dev: str) -> int:
    """Frames the peer's XDP program saw (veth per-queue stats, ethtool -S)."""
    out = sandbox.run(["ethtool", "-S", dev]).stdout
    return sum(int(n) for n in re.findall(r"rx_queue_\d+_xdp_packets:\s*(\d+)", out))


def counter_delta(before: Counters, after: Counters) -> tuple[int, dict[str, int]]:
    """(packets counted per backend in total, packets per reason)."""
    backends = sum(p for p, _ in after.backends.values()) - sum(
        p for p, _ in before.backends.values()
    )
    reasons = {
        r.name: after.reasons.get(r, (0, 0))[0] - before.reasons.get(r, (0, 0))[0]
        for r in after.reasons
    }
    return backends, {k: v for k, v in reasons.items() if v}


def check_output(kind: Kind, prog: str, result: bpfsys.RunResult) -> list[str]:
    """What the non-live run returned: the right verdict and frame."""
    problems = []
    if prog == LB:
        want = XDP_TX if kind.expect == TX else XDP_PASS
    else:
        want = REF_VERDICT.get(prog, XDP_TX)  # probes transmit, as the reflector
    if result.retval != want:
        problems.append(
            f"verdict {VERDICT_NAMES.get(result.retval, result.retval)}, not {VERDICT_NAMES[want]}"
        )
        return problems
    span = frames.changed_span(kind.frame, result.data)
    window = min(frames.RESTORE_BYTES, len(kind.frame))
    if span is not None and span[1] >= window:
        problems.append(
            f"rewrote byte {span[1]} of the frame, beyond the {window} the wrapper restores"
        )
    if prog == LB and kind.expect == TX:
        problems += _check_encap(kind, result.data)
    return problems


def _check_encap(kind: Kind, out: bytes) -> list[str]:
    outer = frames.parse_ipv4(out)
    if outer is None or outer.proto != frames.PROTO_IPIP:
        return ["output is not IPIP"]
    problems = []
    members = {d.ip: d.mac for d in BACKENDS}
    if outer.dst not in members:
        problems.append(f"outer destination {outer.dst} is not a backend")
    elif out[:6] != L.mac_bytes(members[outer.dst]):
        problems.append("Ethernet destination is not the backend's MAC")
    if outer.src != SADDR or not outer.header_ok:
        problems.append("bad outer source or checksum")
    inner_at = frames.ETH_LEN + frames.IP_LEN
    if len(out) != len(kind.frame) + frames.IP_LEN:
        problems.append(f"{len(out)} bytes out for {len(kind.frame)} in")
    elif out[inner_at:] != kind.frame[frames.ETH_LEN :] and not kind.new_flows:
        problems.append("inner packet changed")
    if not frames.l4_checksum_ok(out, inner_at):
        problems.append("inner TCP/UDP checksum wrong")
    return problems


# -- profile --------------------------------------------------------------------


def profile(name: str, fd: int) -> ProgProfile:
    info = bpfsys.prog_info(fd)
    dump = Bpftool().run(["prog", "dump", "xlated", "id", str(info.prog_id)]) or []
    refs: dict[int, int] = {}
    helpers: dict[str, int] = {}
    for insn in dump:
        text = str(insn.get("disasm", ""))
        for mid in re.findall(r"map\[id:(\d+)\]", text):
            refs[int(mid)] = refs.get(int(mid), 0) + 1
        m = re.search(r"call (\w+)#", text)
        if m:
            helpers[m.group(1)] = helpers.get(m.group(1), 0) + 1
    maps = []
    for mid in info.map_ids:
        with bpfsys.opened(bpfsys.map_fd_by_id(mid)) as mfd:
            mi = bpfsys.map_info(mfd)
        maps.append(
            MapProfile(mi.name, mi.type_name, mi.max_entries, mi.value_size, refs.get(mid, 0))
        )
    return ProgProfile(
        name=name,
        prog_id=info.prog_id,
        xlated_bytes=info.xlated_len,
        jited_bytes=info.jited_len,
        xlated_insns=info.xlated_insns,
        verified_insns=info.verified_insns,
        maps=tuple(maps),
        helpers=helpers,
    )


# -- the run --------------------------------------------------------------------


class FlowTable:
    """The balancer's flow table: emptied before each forwarding run, so an
    established flow's first two packets take the ring (new, then stored) and
    the rest hit, and new flows meet an empty table (not the last run's marks
    for the same addresses, which would store every flow instead).

    Emptied by bench_clear.o run once on the balancer's own tags (about a
    millisecond); if that object does not fit the map (a data plane with
    another layout), by a batch update from here.
    """

    def __init__(self, area: Path, map_id: int, notes: list[str]) -> None:
        self.fd = bpfsys.map_fd_by_id(map_id)
        self.info = bpfsys.map_info(self.fd)
        self.clear_fd: int | None = None
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


def flow_stat_names() -> dict[int, str]:
    """Index -> name of the balancer's flow-table counters (layout.FlowStat)."""
    stat = getattr(L, "FlowStat", None)
    return {int(m): m.name.lower() for m in stat} if stat is not None else {}


def check_flow_path(kind: Kind, delta: dict[str, int], repeat: int) -> str | None:
    """An established flow must hit the flow table; a new one never."""
    names = flow_stat_names()
    by_name = {
        names.get(int(k[len("flow_stats[") : -1]), k): v
        for k, v in delta.items()
        if k.startswith("flow_stats[")
    }
    if not by_name or kind.expect != TX:
        return None
    hits = by_name.get("hit", 0)
    if kind.new_flows and hits:
        return f"{hits:,} flow-table hits in a run of new flows"
    if not kind.new_flows and hits < repeat - 2:
        other = {k: v for k, v in by_name.items() if v and k != "hit"}
        return f"only {hits:,} flow-table hits of {repeat:,} ({other})"
    return None


@dataclass(slots=True)
class _Bench:
    opts: Options
    bal: Balancer
    lb_fd: int
    veth: sandbox.VethPair
    ifindex: int
    wrapped: dict[tuple[str, str], Wrapped]
    flows: FlowTable | None
    extra_stats: list[tuple[str, int]]
    log: Callable[[str], None]

    def stats_snapshot(self) -> dict[str, int]:
        """Per-index totals of the balancer's other per-CPU u64 counters
        (e.g. flow_stats: hit, new, stale, stored, untracked, reused)."""
        out: dict[str, int] = {}
        for name, fd in self.extra_stats:
            for idx, cpus in enumerate(bpfsys.array_dump(fd).values()):
                out[f"{name}[{idx}]"] = sum(int.from_bytes(v, "little") for v in cpus)
        return out

    def timed(self, kind: Kind, prog: str, series: Series) -> None:
        w = self.wrapped[(kind.name, prog)]
        repeat = self.opts.repeat
        if prog == LB and kind.expect == TX and self.flows is not None:
            self.flows.clear()
        before = self.bal.counters() if prog == LB else None
        extra_before = self.stats_snapshot() if prog == LB else {}
        peer_before = peer_xdp_packets(self.veth.peer)
        result = w.run(repeat, self.ifindex, live=True)
        peer = peer_xdp_packets(self.veth.peer) - peer_before
        series.ns.append(result.duration_ns)
        transmits = prog == REFL or prog.startswith("+") or (prog == LB and kind.expect == TX)
        if peer != (repeat if transmits else 0):
            series.problems.append(
                f"peer received {peer:,} frames, expected {repeat if transmits else 0:,}"
            )
        if before is not None:
            backends, reasons = counter_delta(before, self.bal.counters())
            want_b = repeat if kind.expect == TX else 0
            want_r = {} if kind.expect == TX else {kind.expect: repeat}
            if backends != want_b or reasons != want_r:
                series.problems.append(
                    f"counters: backends +{backends:,} reasons {reasons} "
                    f"(expected +{want_b:,} {want_r})"
                )
            after = self.stats_snapshot()
            delta = {k: v - extra_before.get(k, 0) for k, v in after.items()}
            for key, value in delta.items():
                series.extra[key] = series.extra.get(key, 0) + value
            wrong = check_flow_path(kind, delta, repeat)
            if wrong:
                series.problems.append(wrong)


def run_dataplane(opts: Options, log: Callable[[str], None] = print) -> DataplaneReport:
    sandbox.need_root("l4lb bench dataplane")
    if opts.only:
        selected = [k for k in kinds() if k.name in opts.only]
    else:
        selected = [k for k in kinds() if opts.costs or not k.extra]
    unknown = set(opts.only) - {k.name for k in kinds()}
    if unknown:
        raise BenchError(f"unknown packet kind {', '.join(sorted(unknown))}")
    build_objects()
    notes = [n for n in (stale_object_note(),) if n]
    sandbox.reap_stale()
    cpu = sandbox.default_cpu() if opts.cpu is None else opts.cpu
    with contextlib.ExitStack() as stack:
        stack.enter_context(sandbox.terminate_cleanly())
        area = stack.enter_context(sandbox.pin_area())
        veth = stack.enter_context(sandbox.veth_namespace(mtu=BENCH_MTU))
        # From here on this thread is in the namespace: ifindexes, ethtool,
        # netlink and bpftool (a child) all answer for it, with no helper
        # processes to reach it.
        stack.enter_context(sandbox.inside(veth.ns))
        refs = stack.enter_context(references(area))
        probes = [p for p in PROBES if opts.costs and set(p.on) & {k.name for k in selected}]
        costs = stack.enter_context(loaded_all(area, COST_OBJ, {p.name: p.section for p in probes}))
        _prime_probes(costs)
        _attach_drop(veth, refs[DROP])
        bal = Balancer(veth.dev)
        stack.callback(_detach, bal)
        try:
            bal.attach("driver", SADDR)
            keys = [k for spec in SERVICES for k in parse_service(spec)]
            bal.load(keys, BACKENDS)
            lb_fd = bpfsys.obj_get(bal.prog_pin)
        except (BpfError, bpfsys.BpfSysError) as exc:
            raise BenchError(f"loading the balancer: {exc}") from None
        stack.callback(os.close, lb_fd)
        targets = {LB: lb_fd, **refs, **costs}
        base = [*PROGRAMS, DROP] if opts.costs else list(PROGRAMS)
        plan = {k.name: [*base, *(p.name for p in probes if k.name in p.on)] for k in selected}
        wrapped: dict[tuple[str, str], Wrapped] = {}
        for kind in selected:
            for prog in plan[kind.name]:
                tag = f"w-{kind.name}-{prog.lstrip('+')}"
                w = Wrapped(area, tag, targets[prog], kind)
                stack.callback(w.close)
                wrapped[(kind.name, prog)] = w
        flow_id, extra = _lb_maps(lb_fd)
        flows = FlowTable(area, flow_id, notes) if flow_id is not None else None
        if flows is not None:
            stack.callback(flows.close)
        stack.enter_context(sandbox.pinned(cpu))
        bench = _Bench(
            opts, bal, lb_fd, veth, socket.if_nametoindex(veth.dev), wrapped, flows, extra, log
        )
        results = _measure(bench, selected, plan)
        profiles = {p: profile(p, fd) for p, fd in targets.items() if not p.startswith("+")}
        profiles["wrap"] = profile("wrap", next(iter(wrapped.values())).fd)
        len_fixed = sum(w.len_fixed() for w in wrapped.values())
        return DataplaneReport(opts, sandbox.host(), cpu, veth, results, profiles, len_fixed, notes)
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack re-raises


def _attach_drop(veth: sandbox.VethPair, drop_fd: int) -> None:
    prog_id = bpfsys.prog_info(drop_fd).prog_id
    try:
        Bpftool().run(["net", "attach", "xdpdrv", "id", str(prog_id), "dev", veth.peer])
    except BpfError as exc:
        raise BenchError(f"attaching XDP_DROP to {veth.peer}: {exc}") from None


def _detach(bal: Balancer) -> None:
    with contextlib.suppress(Exception):
        bal.detach()


def _lb_maps(lb_fd: int) -> tuple[int | None, list[tuple[str, int]]]:
    """The id of the balancer's flow table (an array), and fds of its extra
    u64 per-CPU counters (to report; they stay open for the process's life)."""
    flow: int | None = None
    extra = []
    for mid in bpfsys.prog_info(lb_fd).map_ids:
        fd = bpfsys.map_fd_by_id(mid)
        info = bpfsys.map_info(fd)
        if info.name == FLOW_MAP and info.type == 2:
            flow = mid
        if info.percpu and info.value_size == 8 and info.max_entries <= 64:
            extra.append((info.name, fd))
        else:
            os.close(fd)
    return flow, extra


def _measure(b: _Bench, selected: Sequence[Kind], plan: dict[str, list[str]]) -> list[KindResult]:
    results = [KindResult(k, {p: Series() for p in plan[k.name]}) for k in selected]
    for res in results:
        for prog, series in res.series.items():
            out = b.wrapped[(res.kind.name, prog)].run(1, b.ifindex, live=False)
            series.verdict = out.retval
            series.problems += check_output(res.kind, prog, out)
    warm = min(b.opts.repeat, 50_000)
    for res in results:
        for prog in res.series:
            b.wrapped[(res.kind.name, prog)].run(warm, b.ifindex, live=True)
    for rnd in range(b.opts.rounds):
        for res in results:
            # Rotate the order each round: no program always runs first.
            progs = list(res.series)
            shift = rnd % len(progs)
            for prog in progs[shift:] + progs[:shift]:
                b.timed(res.kind, prog, res.series[prog])
        b.log(f"  round {rnd + 1}/{b.opts.rounds} done")
    return results


# -- output -----------------------------------------------------------------------


def _result_word(res: KindResult) -> str:
    if not res.verified:
        return "UNVERIFIED"
    return "meets" if res.meets_target else "MISSES"


def _check_text(res: KindResult, repeat: int) -> str:
    s = res.series[LB]
    if s.problems:
        return "; ".join(dict.fromkeys(s.problems))
    others = [
        f"{p}: {'; '.join(dict.fromkeys(res.series[p].problems))}"
        for p in PROGRAMS
        if p != LB and res.series[p].problems
    ]
    if others:
        return "; ".join(others)
    where = "backend counters" if res.kind.expect == TX else res.kind.expect.lower()
    peer = " & peer rx" if res.kind.expect == TX else ""
    flows = ""
    if res.kind.expect == TX and any(k.startswith("flow_stats[") for k in res.series[LB].extra):
        flows = "; no flow-table hit" if res.kind.new_flows else "; flow-table hits"
    return f"{where}{peer} +{repeat:,} every run{flows}"


def _extra_text(res: KindResult) -> str:
    extra = {k: v for k, v in res.series[LB].extra.items() if v}
    total = sum(extra.values())
    if not total:
        return ""
    names = flow_stat_names()
    parts = []
    for key, value in sorted(extra.items()):
        m = re.match(r"flow_stats\[(\d+)\]$", key)
        label = names.get(int(m.group(1)), key) if m else key
        parts.append(f"{label} {100 * value / total:.0f}%")
    return "flows: " + " ".join(parts)


def format_report(rep: DataplaneReport) -> str:
    o = rep.options
    out = [
        "l4lb bench dataplane",
        f"  {rep.host.line()}",
        f"  BPF_PROG_TEST_RUN live frames on {rep.veth.dev} (peer {rep.veth.peer} runs "
        f"XDP_DROP), netns {rep.veth.ns}, CPU {rep.cpu} pinned",
        f"  {o.repeat:,} packets a run, {o.rounds} rounds, programs interleaved round by "
        "round; every program behind the restoring wrapper",
        *(f"  note: {n}" for n in rep.notes),
        "",
    ]
    rows = []
    for r in rep.results:
        s = r.series
        rows.append(
            [
                r.kind.name,
                VERDICT_NAMES.get(s[LB].verdict, str(s[LB].verdict)),
                fmt_ns(s[LB].median),
                fmt_ns(s[REFL].median),
                fmt_ns(s[PASS].median),
                fmt_ns(s[DROP].median) if DROP in s else "-",
                fmt_ratio(r.ratio(LB, REFL)),
                fmt_ratio(r.ratio(LB, PASS)),
                f"{r.delta(LB, r.kind.ref):+.0f} {r.kind.ref}",
                f"<={r.kind.target:g}x {r.kind.ref}",
                _result_word(r),
            ]
        )
    out.append(
        "median ns/packet (l4lb = the balancer; ratios and +ns: medians of round-by-round "
        "ratios and differences)"
    )
    out.append(
        table(
            [
                "kind",
                "verdict",
                "l4lb",
                "refl",
                "pass",
                "drop",
                "l4lb/refl",
                "l4lb/pass",
                "+ns",
                "target",
                "result",
            ],
            rows,
            right={2, 3, 4, 5, 6, 7, 8},
        )
    )
    out += ["", "what each kind is, and what proved the figure came from the real path"]
    out.append(
        table(
            ["kind", "packet", "checked", "flow table"],
            [
                [r.kind.name, r.kind.what, _check_text(r, o.repeat), _extra_text(r)]
                for r in rep.results
            ],
        )
    )
    if rep.wrapper_len_fixed:
        out.append(f"wrapper restored the frame length {rep.wrapper_len_fixed:,} times")
    out += [
        "",
        bars(
            [
                (
                    r.kind.name,
                    [
                        ("l4lb", r.series[LB].median),
                        ("reflector", r.series[REFL].median),
                        ("XDP_PASS", r.series[PASS].median),
                    ],
                )
                for r in rep.results
            ],
            "ns per packet: l4lb against the reflector (XDP_TX) and bare XDP_PASS",
        ),
    ]
    probes = {p.name: p for p in PROBES}
    crow = []
    for r in rep.results:
        for prog, series in r.series.items():
            if prog in probes:
                crow.append(
                    [
                        prog,
                        r.kind.name,
                        fmt_ns(series.median),
                        fmt_ns(r.series[REFL].median),
                        f"{r.delta(prog, REFL):+.0f}",
                        fmt_ratio(r.ratio(prog, REFL)),
                        "; ".join(dict.fromkeys(series.problems)) or "ok",
                        probes[prog].what,
                    ]
                )
    if crow:
        out += [
            "",
            "what costs what: the reflector plus one piece of the balancer "
            "(bpf/bench_cost.c), same rounds",
        ]
        out.append(
            table(
                ["probe", "kind", "ns", "refl", "+ns", "x refl", "checks", "the piece"],
                crow,
                right={2, 3, 4, 5},
            )
        )
    steps = [
        r
        for r in rep.results
        if r.kind.name in ("udp-est", "syn-new", "not-vip") and DROP in r.series
    ]
    if steps:
        out += ["", "the same, read off the kinds (median of round-by-round differences, ns)"]
        srow = []
        for r in steps:
            srow.append(
                [
                    r.kind.name,
                    "test run + wrapper + tail call (drop)",
                    fmt_ns(r.series[DROP].median),
                ]
            )
            srow.append(["", "XDP_TX path, reflector - drop", f"{r.delta(REFL, DROP):+.0f}"])
            srow.append(
                ["", "XDP_PASS path (skb, stack), pass - drop", f"{r.delta(PASS, DROP):+.0f}"]
            )
            ref = REFL if r.kind.expect == TX else PASS
            srow.append(["", f"the balancer's own work, l4lb - {ref}", f"{r.delta(LB, ref):+.0f}"])
        out.append(table(["kind", "step", "ns"], srow, right={2}))
    out += ["", "program profile (bpf_prog_info, as `bpftool prog show` reports it)"]
    prow = []
    for p in rep.profiles.values():
        prow.append(
            [
                p.name,
                str(p.prog_id),
                f"{p.xlated_insns:,}",
                f"{p.xlated_bytes:,}",
                f"{p.jited_bytes:,}",
                f"{p.verified_insns:,}",
                ", ".join(f"{k} {v}" for k, v in sorted(p.helpers.items())) or "-",
            ]
        )
    out.append(
        table(
            ["program", "id", "insns", "xlated B", "jited B", "verified", "helper calls"],
            prow,
            right={1, 2, 3, 4, 5},
        )
    )
    lb = rep.profiles.get(LB)
    if lb:
        out += ["", "balancer maps (refs: places in the translated program that load the map)"]
        out.append(
            table(
                ["map", "type", "entries", "value B", "refs"],
                [
                    [m.name, m.type_name, f"{m.max_entries:,}", str(m.value_size), str(m.refs)]
                    for m in lb.maps
                ],
                right={2, 3, 4},
            )
        )
    return "\n".join(out)
