"""The probe tunnel: probes to the VIP leave in IPIP (IPv6 ones in ip6ip6)
to one backend each.

A probe socket carries a mark (`marks()`), one per backend, whatever its
family: one slot space, so a mark names one backend.  In the namespace where
the prober runs (the balancer's), each family it has a source for gets a rule
that sends marked packets to a route whose program wraps them for the
backend in the mark's slot (tunnel_kernel.py sets them, one family at a
time).

The sources are addresses of this host that are not a VIP (the lab's
10.0.0.3 and fd00::3), so that the backend's answers come back here.  The
families are made and undone one by one: `change()` (a reload) adds or
removes one while the other's probes keep their way, and a family whose
source is not (yet) on the host waits for `repair()` without keeping the
other from working.  `close()` undoes all of it, and `open()` first undoes
whatever a killed prober left (of both families, whatever this one probes).
One tunnel per network namespace.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable

from l4lb_tui import validation
from l4lb_tui.bpftool import BpfError, Bpftool
from l4lb_tui.health.adapters.tunnel_kernel import (
    BACKEND_MAPS,
    FAMILIES,
    PIN_ROOT,
    TunnelError,
    TunnelKernel,
)
from l4lb_tui.health.logic import marks as probe_marks

__all__ = ["PIN_ROOT", "REMADE", "ProbeTunnel", "TunnelError"]

DEFAULT_MARK_BASE = 0x4C480000
DEFAULT_TABLE = 0x4C48
STATS = ("encapsulated", "no_slot", "malformed", "failed")  # enum probe_stat
REMADE = "made it again"  # repair()'s words for a family whose route the kernel flushed


class ProbeTunnel:
    def __init__(
        self,
        interface: str,
        source: str | None,
        *,
        source6: str | None = None,
        netns: str | None = None,
        mark_base: int = DEFAULT_MARK_BASE,
        table: int = DEFAULT_TABLE,
    ) -> None:
        """`source` probes IPv4 backends, `source6` IPv6 ones; a family
        without one has no rule or route, and its backends are refused."""
        try:
            self.interface = validation.ifname(interface)
            self.netns = None if netns is None else validation.netns_name(netns)
            self.mark_base = probe_marks.check_base(mark_base)
        except ValueError as exc:
            raise TunnelError(str(exc)) from None
        self.source, self.source6 = _sources(source, source6)
        if not 0 < table < 2**31 or table in (253, 254, 255):
            raise TunnelError(f"table {table}: 1-2147483647, not default, main or local")
        self.table = table
        self._kernel = TunnelKernel(self.interface, self.netns, self.mark_base, table)
        self._bpftool = Bpftool(netns=netns)
        self._slots: dict[str, int] = {}
        self._maps: dict[str, int] = {}
        self._program: int | None = None  # its id, while a route holds it
        self._made: tuple[int, ...] = ()  # the families whose rule and route are up
        self._lost: set[int] = set()  # made once, their route flushed, not made again yet
        self.flushed: tuple[int, ...] = ()  # the families the last repair() found flushed
        self._opened = False  # open() succeeded and close() was not called since

    # The caller's side

    @property
    def families(self) -> tuple[int, ...]:
        """The families this tunnel probes: those it has a source for."""
        return tuple(f for f, src in ((4, self.source), (6, self.source6)) if src)

    @property
    def made(self) -> tuple[int, ...]:
        """The families whose rule and route are up (as far as it knows)."""
        return self._made

    def open(self) -> None:
        """Set the tunnel up (after undoing any left behind) for every family
        it has a source for; TunnelError, and nothing changed, if it cannot."""
        if failed := self.open_partly():
            self.close()
            raise TunnelError(next(iter(failed.values())))

    def open_partly(self) -> dict[int, str]:
        """Set the tunnel up (after undoing any left behind) for the families
        that can be made; why not, for each of the others, which `repair()`
        makes once they can be (even if none could be made now)."""
        try:
            self._kernel.remove_all()
        except TunnelError as exc:
            raise TunnelError(f"probe tunnel on {self.interface}: {exc}") from None
        self._made, self._lost = (), set()
        self._opened = True
        return self._make_missing(clean=True)

    def change(self, source: str | None, source6: str | None) -> dict[int, str]:
        """Probe from these sources from now on, in place: a family no
        longer wanted (or whose new source is not on the host) is undone,
        a new one made, and a family whose source stays keeps its rule and
        route untouched, so its probes in flight never miss them.  Why not,
        for each family that could not be made."""
        new = _sources(source, source6)
        old = (self.source, self.source6)
        self.source, self.source6 = new
        for family in self._made:
            now = new[FAMILIES.index(family)]
            if now is None or (
                now != old[FAMILIES.index(family)] and self._kernel.missing_source(family, now)
            ):
                self._unmake(family)
        self._lost &= set(self.families)
        return self._make_missing()

    @staticmethod
    def sweep(interface: str, netns: str | None) -> bool:
        """Undo a tunnel a killed prober left in the namespace (its rules,
        routes and `interface`'s accept_local); whether there was one."""
        try:
            dev = validation.ifname(interface)
        except ValueError as exc:
            raise TunnelError(str(exc)) from None
        kernel = TunnelKernel(dev, netns, DEFAULT_MARK_BASE, DEFAULT_TABLE)
        if not kernel.left_behind():
            return False
        kernel.remove_all()
        return True

    def close(self) -> None:
        """Remove rules, routes and program, and put accept_local back."""
        self._kernel.remove_all()
        self._slots = {}
        self._forget_program()
        self._made, self._lost = (), set()
        self._opened = False

    def set_backends(self, addresses: Iterable[str]) -> dict[str, int]:
        """Give each backend address (of a family the tunnel has a source
        for) a mark, kept while it stays; the marks."""
        if not self._maps:
            raise TunnelError("the probe tunnel is not open")
        try:
            wanted = [self._backend(a) for a in addresses]
            plan = probe_marks.plan_slots(self._slots, wanted)
        except ValueError as exc:
            raise TunnelError(str(exc)) from None
        was = {slot: ip for ip, slot in self._slots.items()}
        lines = [self._slot_cmd(slot, ip) for slot, ip in plan.write]
        lines += [self._slot_cmd(slot, was[slot], clear=True) for slot in plan.clear]
        self._write_slots(lines)
        self._slots = dict(plan.slots)
        return self.marks()

    def intact(self) -> bool:
        """Whether the tunnel's routes are still there: the kernel flushes a
        route through a link that goes down (or leaves the namespace), and
        the routes hold the program."""
        return all(self._kernel.routes(family) for family in self.families)

    def repair(self) -> str:
        """Make again each family whose route the kernel flushed (a link down
        and up, or moved out and back), each backend on its mark as before,
        and each family whose source was not on the host until now; the
        other family's rule and route stay as they are.  What was done ("":
        nothing).  A family whose source went with the link (IPv6 drops a
        link's addresses when it goes down), or was never there, waits for
        it quietly.  TunnelError if a flushed family cannot be made again
        and none is made (the link still down, say); the next call tries
        again."""
        self.flushed = ()
        if not self._opened:
            return ""
        for family in self._made:
            if not self._kernel.routes(family):
                self._lost.add(family)
        self.flushed = tuple(f for f in self._made if f in self._lost)
        self._made = tuple(f for f in self._made if f not in self._lost)
        waiting = [f for f in self.families if f not in self._made]
        if not waiting:
            return ""
        lost = set(self._lost)
        failed = self._make_missing()
        again = [f for f in waiting if f in lost and f not in failed]
        new = [f for f in waiting if f not in lost and f not in failed]
        if not again and not new:
            if self._made or not lost:
                return ""  # the rest waits for its source, as said before
            raise TunnelError(next(iter(failed.values())))
        said = []
        if again:
            said.append(REMADE)
            if failed:
                other = next(iter(failed))
                said[0] += (
                    f" for IPv{self._made[0]} only "
                    f"(IPv{other} once its source is back: {failed[other]})"
                )
        if new:
            too = " too" if set(self._made) - set(new) else ""
            names = " and ".join(f"IPv{f}" for f in new)
            said.append(f"made it for {names}{too}: its source is an address of this host now")
        return "; ".join(said)

    def marks(self) -> dict[str, int]:
        """Backend address -> the mark that sends a probe to it."""
        return {ip: probe_marks.mark(self.mark_base, slot) for ip, slot in self._slots.items()}

    def stats(self) -> dict[str, int]:
        """The program's counters (see STATS), summed over CPUs."""
        if not self._maps:
            raise TunnelError("the probe tunnel is not open")
        try:
            dump = self._bpftool.run(["map", "dump", "id", str(self._maps["probe_stats"])])
        except BpfError as exc:
            raise TunnelError(f"probe tunnel counters: {exc}") from None
        totals = dict.fromkeys(STATS, 0)
        for entry in dump or []:
            index = int.from_bytes(bytes(int(b, 16) for b in entry["key"]), "little")
            if index < len(STATS):
                totals[STATS[index]] = sum(
                    int.from_bytes(bytes(int(b, 16) for b in cpu["value"]), "little")
                    for cpu in entry["values"]
                )
        return totals

    def __enter__(self) -> ProbeTunnel:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # One family at a time

    def _make_missing(self, clean: bool = False) -> dict[int, str]:
        failed = {}
        for family in self.families:
            if family not in self._made:
                try:
                    self._make(family, clean)
                except TunnelError as exc:
                    failed[family] = str(exc)
        return failed

    def _make(self, family: int, clean: bool = False) -> None:
        """The family's route (through the program the other family's route
        holds, if it is still there) and then its rule.  `clean`: nothing of
        it is there (all of it was just undone)."""
        source = self.source if family == 4 else self.source6
        try:
            self._kernel.check_link()
            if missing := self._kernel.missing_source(family, source):
                raise TunnelError(missing)
            if not clean:
                self._kernel.remove(family)  # what is left of it (a rule whose route was flushed)
            held = any(self._kernel.routes(f) for f in self._made if f != family)
            program, maps = self._kernel.attach(family, self._program if held else None)
            if program != self._program:
                # A new program: new, empty maps, for the marks handed out already.
                self._program, self._maps = program, maps
                self._write_slots([self._slot_cmd(slot, ip) for ip, slot in self._slots.items()])
            self._kernel.add_rules(family)
        except (TunnelError, BpfError) as exc:
            with contextlib.suppress(TunnelError, BpfError):
                self._kernel.remove(family)
            if not self._made:
                self._forget_program()
            raise TunnelError(f"probe tunnel on {self.interface}: {exc}") from None
        self._made = tuple(f for f in FAMILIES if f in self._made or f == family)
        self._lost.discard(family)

    def _unmake(self, family: int) -> None:
        self._kernel.remove(family)
        self._made = tuple(f for f in self._made if f != family)
        if not self._made:
            self._forget_program()

    def _forget_program(self) -> None:
        """No route holds the program now: it and its maps are gone."""
        self._program, self._maps = None, {}

    # Backends' slots

    def _backend(self, address: str) -> str:
        ip = ipaddress.ip_address(address)
        if ip.version not in self.families:
            raise ValueError(
                f"{ip}: the probe tunnel has no IPv{ip.version} source to probe it from"
            )
        return str(ip)

    def _slot_cmd(self, slot: int, ip: str, clear: bool = False) -> str:
        addr = ipaddress.ip_address(ip)
        value = bytes(len(addr.packed)) if clear else addr.packed
        return Bpftool.update_cmd(self._maps[BACKEND_MAPS[addr.version]], _slot_key(slot), value)

    def _write_slots(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            self._bpftool.batch(lines)
        except BpfError as exc:
            raise TunnelError(f"probe tunnel backends: {exc}") from None


def _sources(source: str | None, source6: str | None) -> tuple[str | None, str | None]:
    try:
        four = None if source is None else str(ipaddress.IPv4Address(source))
        six = None if source6 is None else str(ipaddress.IPv6Address(source6))
    except ValueError as exc:
        raise TunnelError(str(exc)) from None
    if four is None and six is None:
        raise TunnelError("the probe tunnel needs a source: IPv4, IPv6 or both")
    return four, six


def _slot_key(slot: int) -> bytes:
    return slot.to_bytes(4, "little")
