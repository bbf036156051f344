"""The probe tunnel: probes to the VIP leave in IPIP (IPv6 ones in ip6ip6)
to one backend each.

A probe socket carries a mark (`marks()`), one per backend, whatever its
family: one slot space, so a mark names one backend.  In the namespace where
the prober runs (the balancer's), for each family it has a source for:

- one rule, `fwmark BASE/0xffff0000 lookup TABLE`, ahead of the `local`
  table (see logic/rules.py: a host holding the VIP would otherwise keep
  the probe; IPv6's `local` rule is at preference 0 too), so only marked
  packets ever reach
- one route, `default encap bpf xmit ... dev IF` in TABLE, whose program
  (bpf/l4lb_probe_encap.c, one program for both families' routes) wraps the
  probe in an outer header of its family from the probe's source to the
  backend in the mark's slot and sends it on;
- for IPv4, `accept_local` on IF: the backend answers from the VIP (DSR),
  an address of this host, which IPv4 would drop as a martian.  IPv6 has no
  such check (nor the sysctl): an answer from the VIP is taken as it comes.

The sources are addresses of this host that are not a VIP (the lab's
10.0.0.3 and fd00::3), so that the backend's answers come back here.  The
routes hold the program and its maps; nothing stays pinned.  `close()`
undoes all of it, and `open()` first undoes whatever a killed prober left
(of both families, whatever this one probes): rules and routes are found by
their protocol number, accept_local's old value in a file under the run
directory.  One tunnel per network namespace.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from l4lb_tui import paths, procfs, validation
from l4lb_tui.bpftool import BPFFS, BpfError, Bpftool
from l4lb_tui.health.logic import marks as probe_marks
from l4lb_tui.health.logic import rules as probe_rules

OBJECT = "l4lb_probe_encap.o"
DEFAULT_MARK_BASE = 0x4C480000
DEFAULT_TABLE = 0x4C48
HEADROOM = {4: 20, 6: 40}  # the outer header, per family
FAMILIES = (4, 6)
BACKEND_MAPS = {4: "probe_backends", 6: "probe_backends6"}
PIN_ROOT = BPFFS / "l4lb-probe"  # only while the program is being attached
STATS = ("encapsulated", "no_slot", "malformed", "failed")  # enum probe_stat


class TunnelError(Exception):
    """The tunnel could not be set up, changed or removed; the tool's words."""


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
            self.source = None if source is None else str(ipaddress.IPv4Address(source))
            self.source6 = None if source6 is None else str(ipaddress.IPv6Address(source6))
            self.mark_base = probe_marks.check_base(mark_base)
        except ValueError as exc:
            raise TunnelError(str(exc)) from None
        if self.source is None and self.source6 is None:
            raise TunnelError("the probe tunnel needs a source: IPv4, IPv6 or both")
        if not 0 < table < 2**31 or table in (253, 254, 255):
            raise TunnelError(f"table {table}: 1-2147483647, not default, main or local")
        self.table = table
        self._bpftool = Bpftool(netns=netns)
        self._slots: dict[str, int] = {}
        self._maps: dict[str, int] = {}
        self._made: tuple[int, ...] = ()  # the families whose rule and route are up
        self._opened = False  # open() succeeded and close() was not called since

    # The caller's side

    @property
    def families(self) -> tuple[int, ...]:
        """The families this tunnel probes: those it has a source for."""
        return tuple(f for f, src in ((4, self.source), (6, self.source6)) if src)

    def open(self, families: tuple[int, ...] | None = None) -> None:
        """Set the tunnel up (after undoing any left behind), for `families`
        (default: every one it has a source for); TunnelError if it cannot."""
        made = self.families if families is None else families
        self._restore()
        try:
            self._check_host(made)
            self._attach_program(made)
            if 4 in made:
                self._save_accept_local()
                self._set_accept_local("1")
            for family in made:
                rules = probe_rules.parse_rules(self._ip_json([f"-{family}", "rule", "show"]))
                for step in probe_rules.install_steps(rules, self.mark_base, self.table):
                    self._ip([f"-{family}", *step])
        except (TunnelError, BpfError) as exc:
            self._restore()
            raise TunnelError(f"probe tunnel on {self.interface}: {exc}") from None
        self._made = made
        self._opened = True

    def close(self) -> None:
        """Remove rules, routes and program, and put accept_local back."""
        self._restore()
        self._slots = {}
        self._maps = {}
        self._made = ()
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
        return all(self._routes(family) for family in self.families)

    def repair(self) -> str:
        """Make a tunnel whose route is gone again, each backend on its mark
        as before (probes in flight keep theirs); what was done ("": nothing).
        A family whose source went with the link (IPv6 drops a link's
        addresses when it goes down) is left out, so that the other's probes
        work, and made again once its source is back.  TunnelError if no
        family can be made (the link still down, say); the next call tries
        again."""
        if not self._opened or self.intact():
            return ""
        lost = [f for f in self.families if f not in self._made]
        # Half made, and the rest's source not back yet: nothing to do (a
        # reopen would take the made half down a moment, every look).
        if (
            lost
            and all(self._routes(f) for f in self._made)
            and any(self._missing_source(f) for f in lost)
        ):
            return ""
        slots = dict(self._slots)
        self._maps = {}
        said = "made it again"
        try:
            self.open()
        except TunnelError as exc:
            if len(self.families) < 2:
                raise
            kept = self._open_one()
            if kept is None:
                raise
            other = 6 if kept == 4 else 4
            said += f" for IPv{kept} only (IPv{other} once its source is back: {exc})"
        self._write_slots([self._slot_cmd(slot, ip) for ip, slot in slots.items()])
        self._slots = slots
        return said

    def _open_one(self) -> int | None:
        """The one family the tunnel could be opened for (None: neither)."""
        for family in self.families:
            with contextlib.suppress(TunnelError):
                self.open((family,))
                return family
        return None

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
        try:
            self._bpftool.batch(lines)
        except BpfError as exc:
            raise TunnelError(f"probe tunnel backends: {exc}") from None

    # Setting up

    def _check_host(self, families: tuple[int, ...]) -> None:
        # Every link: `-4 addr show` leaves out those without an IPv4
        # address, as a balancer's interface may well be.
        names = {str(link.get("ifname")) for link in self._ip_json(["link", "show"])}
        if self.interface not in names:
            raise TunnelError(f"interface {self.interface} does not exist")
        for family in families:
            if missing := self._missing_source(family):
                raise TunnelError(missing)

    def _missing_source(self, family: int) -> str:
        """Why the family's source is not usable ("": it is an address here)."""
        source = self.source if family == 4 else self.source6
        links = self._ip_json([f"-{family}", "addr", "show"])
        local = {
            str(ipaddress.ip_address(a["local"]))
            for link in links
            for a in link.get("addr_info", ())
            if "local" in a
        }
        if source in local:
            return ""
        plen = 32 if family == 4 else 128
        return (
            f"the probe source {source} is not an address of this host: add it "
            f"(ip address add {source}/{plen} dev {self.interface}); it must not be a VIP"
        )

    def _attach_program(self, families: tuple[int, ...]) -> None:
        obj = paths.bpf_object(OBJECT)
        if not obj.is_file():
            raise TunnelError(f"BPF object {obj} is not built: run 'make -C bpf'")
        self._bpftool.ensure_bpffs()
        pin = PIN_ROOT / f"{os.getpid()}-{secrets.token_hex(4)}"
        pin.mkdir(parents=True)
        try:
            self._bpftool.run(
                ["prog", "load", str(obj), str(pin / "prog"), "type", "lwt_xmit",
                 "pinmaps", str(pin / "maps")]
            )  # fmt: skip
            for name in (*BACKEND_MAPS.values(), "probe_stats"):
                if not (pin / "maps" / name).exists():
                    raise TunnelError(f"BPF object {obj} is older than l4lb: run 'make -C bpf'")
                shown = self._bpftool.run(["map", "show", "pinned", str(pin / "maps" / name)])
                self._maps[name] = int(shown["id"])
            for family in families:
                self._ip(
                    [f"-{family}", "route", "replace", "default", "encap", "bpf", "xmit",
                     "pinned", str(pin / "prog"), "headroom", str(HEADROOM[family]),
                     "dev", self.interface, "table", str(self.table),
                     "proto", str(probe_rules.PROTOCOL)]
                )  # fmt: skip
        finally:
            # The routes hold the program, and the program its maps.
            with contextlib.suppress(BpfError):
                Bpftool.unpin_tree(pin, root=PIN_ROOT)

    def _routes(self, family: int) -> list[dict[str, Any]]:
        try:
            return self._ip_json(
                [f"-{family}", "route", "show", "table", str(self.table),
                 "proto", str(probe_rules.PROTOCOL)]
            )  # fmt: skip
        except TunnelError as exc:
            if "table does not exist" in str(exc):
                return []
            raise

    # Undoing

    def _restore(self) -> None:
        """Undo this namespace's tunnel of both families, whoever made it;
        quiet when there is none."""
        for family in FAMILIES:
            rules = probe_rules.parse_rules(self._ip_json([f"-{family}", "rule", "show"]))
            for step in probe_rules.restore_steps(rules):
                self._ip([f"-{family}", *step])
            if self._routes(family):
                self._ip(
                    [f"-{family}", "route", "flush", "table", str(self.table),
                     "proto", str(probe_rules.PROTOCOL)]
                )  # fmt: skip
        state = self._state_file()
        if state.exists():
            with contextlib.suppress(OSError, ValueError, KeyError):
                saved = json.loads(state.read_text())
                if saved["interface"] == self.interface:
                    self._set_accept_local(str(saved["accept_local"]))
            state.unlink(missing_ok=True)
        _remove_orphan_pins()

    # accept_local, kept across a killed prober in a file

    def _sysctl(self) -> str:
        # Slashes: an interface name may hold dots, which sysctl would split.
        return f"net/ipv4/conf/{self.interface}/accept_local"

    def _save_accept_local(self) -> None:
        value = self._run(["sysctl", "-n", self._sysctl()]).strip()
        state = self._state_file()
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"interface": self.interface, "accept_local": value}))

    def _set_accept_local(self, value: str) -> None:
        if value not in ("0", "1"):
            raise TunnelError(f"accept_local {value!r}: 0 or 1")
        self._run(["sysctl", "-q", "-w", f"{self._sysctl()}={value}"])

    def _state_file(self) -> Path:
        ino = self._run(["stat", "-L", "-c", "%i", "/proc/self/ns/net"]).strip()
        return paths.RUN_DIR / f"probe-tunnel-{ino}-{self.interface}.json"

    # Tools

    def _ip(self, args: Sequence[str]) -> str:
        return self._run(["ip", *args])

    def _ip_json(self, args: Sequence[str]) -> list[dict[str, Any]]:
        out = self._run(["ip", "-j", *args]).strip()
        doc: list[dict[str, Any]] = json.loads(out) if out else []
        return doc

    def _run(self, argv: Sequence[str]) -> str:
        """Run a tool in the tunnel's namespace.  nsenter, unlike `ip netns
        exec`, keeps this host's mounts: `ip` must see the program's pin."""
        full = [*(["nsenter", f"--net=/run/netns/{self.netns}"] if self.netns else []), *argv]
        try:
            done = subprocess.run(  # noqa: S603 - argv list, no shell
                full, capture_output=True, text=True, check=False, timeout=30
            )
        except FileNotFoundError:
            raise TunnelError(f"{full[0]} not found") from None
        except subprocess.TimeoutExpired:
            raise TunnelError(f"{' '.join(argv[:3])} did not finish in 30 s") from None
        if done.returncode != 0:
            said = "; ".join(ln.strip() for ln in done.stderr.splitlines() if ln.strip())
            raise TunnelError(f"{' '.join(argv)}: {said or f'exit status {done.returncode}'}")
        return done.stdout


def _slot_key(slot: int) -> bytes:
    return slot.to_bytes(4, "little")


def _remove_orphan_pins() -> None:
    """Pins of a prober killed while it attached its program."""
    if not PIN_ROOT.is_dir():
        return
    for pin in PIN_ROOT.iterdir():
        pid = pin.name.partition("-")[0]
        if pid.isdigit() and not procfs.alive(int(pid)):
            with contextlib.suppress(BpfError):
                Bpftool.unpin_tree(pin, root=PIN_ROOT)
