"""What `lab status` reports: plain data, and how it reads on a terminal."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class XdpStatus:
    prog_id: int
    mode: str
    name: str
    # Only for the lab's decap program: the address it decapsulates for,
    # and its counters (see xdp.DECAP_STATS).
    decap_addr: str | None = None
    decap: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class LinkStatus:
    name: str
    state: str
    mac: str
    mtu: int
    addresses: tuple[str, ...]
    xdp: XdpStatus | None
    rx_packets: int
    tx_packets: int


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    pid: int
    argv: tuple[str, ...]

    @property
    def command(self) -> str:
        """The command without the interpreter's path, which is long and says little."""
        argv = list(self.argv)
        if len(argv) > 2 and argv[1] == "-m":
            argv = ["python", *argv[1:]]
        return " ".join(argv)


@dataclass(frozen=True, slots=True)
class NamespaceStatus:
    name: str
    links: tuple[LinkStatus, ...]
    processes: tuple[ProcessStatus, ...]


@dataclass(frozen=True, slots=True)
class BackendFaults:
    """What `lab break` left broken on one backend (faults.FAULTS' names)."""

    index: int  # from 1, as `lab break --backend` takes it
    name: str
    broken: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LabStatus:
    prefix: str
    namespaces: tuple[NamespaceStatus, ...] = ()
    pin_dirs: tuple[str, ...] = ()
    csv_path: str | None = None
    faults: tuple[BackendFaults, ...] = ()  # only the backends with one
    # Its processes outside its namespaces (one deleted under them: t16 F7).
    orphans: tuple[str, ...] = ()
    # What is missing of a scale-out lab (its router's BIRD gone: v16 N9).
    missing: tuple[str, ...] = ()

    @property
    def exists(self) -> bool:
        return bool(self.namespaces or self.pin_dirs or self.csv_path or self.orphans)

    def namespace(self, name: str) -> NamespaceStatus | None:
        return next((ns for ns in self.namespaces if ns.name == name), None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def lines(self) -> list[str]:
        if not self.exists:
            return [f"lab {self.prefix}: nothing exists"]
        out = [f"lab {self.prefix}: {len(self.namespaces)} namespaces"]
        if self.csv_path:
            out.append(f"destinations: {self.csv_path}")
        for ns in self.namespaces:
            out.append(ns.name)
            for link in ns.links:
                addrs = " ".join(link.addresses) or "-"
                out.append(f"  {link.name:<11} {link.state:<5} {link.mac}  {addrs}")
                if link.xdp:
                    out.append(f"    {_xdp_line(link.xdp)}")
            for proc in ns.processes:
                out.append(f"  pid {proc.pid:<7} {proc.command}")
        for pin in self.pin_dirs:
            out.append(f"pins: {pin}")
        for f in self.faults:
            out.append(
                f"broken: {f.name}: {', '.join(f.broken)} "
                f"('l4lb lab fix --prefix {self.prefix} --backend {f.index}' mends it)"
            )
        for line in self.orphans:
            out.append(f"orphan: {line} ('l4lb lab down --prefix {self.prefix}' stops it)")
        out.extend(f"missing: {line}" for line in self.missing)
        return out


def _xdp_line(xdp: XdpStatus) -> str:
    line = f"xdp {xdp.mode} {xdp.name or '?'} (id {xdp.prog_id})"
    if xdp.decap is not None:
        counters = " ".join(f"{k}={v}" for k, v in xdp.decap.items())
        line += f" decap for {xdp.decap_addr}: {counters}"
    return line
