"""What the probe tunnel (tunnel.py) sets in its namespace, one family at a
time, so that one family can be added, removed or made again while the
other's packets keep their way:

- one rule, `fwmark BASE/0xffff0000 lookup TABLE`, ahead of the `local`
  table (see logic/rules.py: a host holding the VIP would otherwise keep
  the probe; IPv6's `local` rule is at preference 0 too);
- one route, `default encap bpf xmit ... dev IF` in TABLE (and an
  `unreachable default` behind it, which a link flap does not flush), whose program
  (bpf/l4lb_probe_encap.c, one program for both families' routes) wraps the
  probe in an outer header of its family from the probe's source to the
  backend in the mark's slot.  The routes hold the program and its maps;
  nothing stays pinned, so the second family's route finds the program by
  its id;
- for IPv4, `accept_local` on IF: the backend answers from the VIP (DSR),
  an address of this host, which IPv4 would drop as a martian.  Its old
  value is kept in a file under the run directory, for a killed prober.

Rules and routes carry their own protocol number: whatever a killed prober
left is found and undone the same way.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from l4lb_tui import paths, procfs
from l4lb_tui.bpftool import BPFFS, BpfError, Bpftool
from l4lb_tui.health.logic import rules as probe_rules

OBJECT = "l4lb_probe_encap.o"
HEADROOM = {4: 20, 6: 40}  # the outer header, per family
FAMILIES = (4, 6)
BACKEND_MAPS = {4: "probe_backends", 6: "probe_backends6"}
PIN_ROOT = BPFFS / "l4lb-probe"  # only while the program is being attached
FALLBACK_METRIC = 0xFFFFFFFF  # the last of the table's default routes


class TunnelError(Exception):
    """The tunnel could not be set up, changed or removed; the tool's words."""


class TunnelKernel:
    """The tunnel's rules, routes, program and sysctl in one namespace."""

    def __init__(self, interface: str, netns: str | None, mark_base: int, table: int) -> None:
        self.interface = interface
        self.netns = netns
        self.mark_base = mark_base
        self.table = table
        self.bpftool = Bpftool(netns=netns)

    # Looking

    def check_link(self) -> None:
        # Every link: `-4 addr show` leaves out those without an IPv4
        # address, as a balancer's interface may well be.
        names = {str(link.get("ifname")) for link in self._ip_json(["link", "show"])}
        if self.interface not in names:
            raise TunnelError(f"interface {self.interface} does not exist")

    def missing_source(self, family: int, source: str | None) -> str:
        """Why `source` cannot be the family's probe source ("": it is an
        address here, for IPv6 one of the tunnel's link)."""
        on = {
            str(ipaddress.ip_address(a["local"])): str(link.get("ifname"))
            for link in self._ip_json([f"-{family}", "addr", "show"])
            for a in link.get("addr_info", ())
            if "local" in a
        }
        plen = 32 if family == 4 else 128
        add = f"ip address add {source}/{plen} dev {self.interface}"
        if source not in on:
            return (
                f"the probe source {source} is not an address of this host: add it "
                f"({add}); it must not be a VIP"
            )
        if family == 6 and on[source] != self.interface:
            # The backend's answer finds it by neighbour discovery, which a
            # link answers only for its own addresses (IPv4's ARP answers
            # for any of the host's).
            return (
                f"the probe source {source} is on {on[source]}, not on {self.interface}: "
                f"the backends' answers would never reach it: move it ({add})"
            )
        return ""

    def routes(self, family: int) -> list[dict[str, Any]]:
        """The family's encap route (not the fallback), if it is there."""
        return [r for r in self._ours(family) if r.get("type") != "unreachable"]

    def _ours(self, family: int) -> list[dict[str, Any]]:
        try:
            return self._ip_json(
                [f"-{family}", "route", "show", "table", str(self.table),
                 "proto", str(probe_rules.PROTOCOL)]
            )  # fmt: skip
        except TunnelError as exc:
            if "table does not exist" in str(exc):
                return []
            raise

    # Making

    def attach(self, family: int, program: int | None) -> tuple[int, dict[str, int]]:
        """Route the family's marked packets through the program with id
        `program` (held by the other family's route), or through a new one
        (None); the program's id and its maps' ids."""
        obj = paths.bpf_object(OBJECT)
        if program is None and not obj.is_file():
            raise TunnelError(f"BPF object {obj} is not built: run 'make -C bpf'")
        self.bpftool.ensure_bpffs()
        pin = PIN_ROOT / f"{os.getpid()}-{secrets.token_hex(4)}"
        pin.mkdir(parents=True)
        try:
            if program is None:
                program = self._load(obj, pin)
            else:
                self.bpftool.run(["prog", "pin", "id", str(program), str(pin / "prog")])
            maps = self._maps(program)
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
        return program, maps

    def _load(self, obj: Path, pin: Path) -> int:
        self.bpftool.run(
            ["prog", "load", str(obj), str(pin / "prog"), "type", "lwt_xmit",
             "pinmaps", str(pin / "maps")]
        )  # fmt: skip
        for name in (*BACKEND_MAPS.values(), "probe_stats"):
            if not (pin / "maps" / name).exists():
                raise TunnelError(f"BPF object {obj} is older than l4lb: run 'make -C bpf'")
        return int(self.bpftool.run(["prog", "show", "pinned", str(pin / "prog")])["id"])

    def _maps(self, program: int) -> dict[str, int]:
        ids = set(self.bpftool.run(["prog", "show", "id", str(program)]).get("map_ids", ()))
        maps = {str(m.get("name", "")): int(m["id"]) for m in self.bpftool.run(["map", "show"])
                if m.get("id") in ids}  # fmt: skip
        for name in (*BACKEND_MAPS.values(), "probe_stats"):
            if name not in maps:
                raise TunnelError(f"the probe tunnel's program {program} has no map {name}")
        return maps

    def add_rules(self, family: int) -> None:
        """The family's rule ahead of `local` (and IPv4's accept_local), and
        behind the encap route a fallback that no link takes away: a marked
        probe finds no route rather than falling through to `local` (the
        host holds the VIP, and would answer it itself) while the encap
        route is gone with a link flap."""
        self._ip(
            [f"-{family}", "route", "replace", "unreachable", "default",
             "table", str(self.table), "metric", str(FALLBACK_METRIC),
             "proto", str(probe_rules.PROTOCOL)]
        )  # fmt: skip
        if family == 4:
            self._save_accept_local()
            self._set_accept_local("1")
        rules = probe_rules.parse_rules(self._ip_json([f"-{family}", "rule", "show"]))
        for step in probe_rules.install_steps(rules, self.mark_base, self.table):
            self._ip([f"-{family}", *step])

    # Undoing

    def remove(self, family: int) -> None:
        """Undo the family's rules, route and sysctl, whoever made them;
        quiet when there are none.  The other family's stay as they are."""
        rules = probe_rules.parse_rules(self._ip_json([f"-{family}", "rule", "show"]))
        for step in probe_rules.restore_steps(rules):
            self._ip([f"-{family}", *step])
        if self._ours(family):
            self._ip(
                [f"-{family}", "route", "flush", "table", str(self.table),
                 "proto", str(probe_rules.PROTOCOL)]
            )  # fmt: skip
            # IPv6's `flush` passes over unreachable routes: those by name.
            for r in (r for r in self._ours(family) if r.get("type") == "unreachable"):
                self._ip(
                    [f"-{family}", "route", "del", "unreachable", str(r.get("dst", "default")),
                     "table", str(self.table), "metric", str(r.get("metric", 0)),
                     "proto", str(probe_rules.PROTOCOL)]
                )  # fmt: skip
        if family == 4:
            self._restore_accept_local()

    def left_behind(self) -> bool:
        """Whether any of a tunnel is here: a rule, a route, a saved sysctl."""
        for family in FAMILIES:
            rules = probe_rules.parse_rules(self._ip_json([f"-{family}", "rule", "show"]))
            if any(r.ours for r in rules) or self._ours(family):
                return True
        return self._state_file().exists()

    def remove_all(self) -> None:
        """Undo this namespace's tunnel of both families, and the pins of a
        prober killed while it attached its program."""
        for family in FAMILIES:
            self.remove(family)
        _remove_orphan_pins()

    # accept_local, kept across a killed prober in a file

    def _sysctl(self) -> str:
        # Slashes: an interface name may hold dots, which sysctl would split.
        return f"net/ipv4/conf/{self.interface}/accept_local"

    def _save_accept_local(self) -> None:
        state = self._state_file()
        if state.exists():
            return  # a value saved before ours went in: the one to put back
        value = self._run(["sysctl", "-n", self._sysctl()]).strip()
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"interface": self.interface, "accept_local": value}))

    def _restore_accept_local(self) -> None:
        state = self._state_file()
        if state.exists():
            with contextlib.suppress(OSError, ValueError, KeyError):
                saved = json.loads(state.read_text())
                if saved["interface"] == self.interface:
                    self._set_accept_local(str(saved["accept_local"]))
            state.unlink(missing_ok=True)

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


def _remove_orphan_pins() -> None:
    """Pins of a prober killed while it attached its program."""
    if not PIN_ROOT.is_dir():
        return
    for pin in PIN_ROOT.iterdir():
        pid = pin.name.partition("-")[0]
        if pid.isdigit() and not procfs.alive(int(pid)):
            with contextlib.suppress(BpfError):
                Bpftool.unpin_tree(pin, root=PIN_ROOT)
