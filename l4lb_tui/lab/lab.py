"""The lab as one object: its names, and up / down / status / traffic.

A `Lab` is only names and addresses derived from (prefix, backends); every
method looks at what the kernel has now, so any process can bring up, use or
tear down a lab that another one created, and `down` works after any partial
`up`.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import procfs
from l4lb_tui.destinations import Destination, format_csv
from l4lb_tui.lab import labpins, names, scalecheck, teardown, topology, xdp
from l4lb_tui.lab.addressing import IPV6_ON, backend_sysctls, configure6
from l4lb_tui.lab.errors import LabError
from l4lb_tui.lab.flood import FloodReport, flood
from l4lb_tui.lab.names import Node
from l4lb_tui.lab.servers import SERVER_MODULE
from l4lb_tui.lab.status import (
    LabStatus,
    LinkStatus,
    NamespaceStatus,
    ProcessStatus,
    XdpStatus,
)
from l4lb_tui.lab.tools import python_module, run_in, spawn_in, tool_message
from l4lb_tui.lab.traffic import DEFAULT_COUNT, DEFAULT_DURATION, TRAFFIC_MODULE, TrafficReport
from l4lb_tui.netlink import LinkInfo, NetlinkError, namespaces

SERVER_START_TIMEOUT = 15.0


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("must run as root: it creates namespaces and attaches XDP programs")


@dataclass(frozen=True, slots=True)
class Lab:
    prefix: str = names.DEFAULT_PREFIX
    backends: int = names.DEFAULT_BACKENDS

    def __post_init__(self) -> None:
        names.check_prefix(self.prefix)
        names.check_backends(self.backends)

    # Names and addresses

    @property
    def switch_ns(self) -> str:
        return names.switch_ns(self.prefix)

    @property
    def bridge(self) -> str:
        return names.bridge(self.prefix)

    @property
    def client(self) -> Node:
        return names.client(self.prefix)

    @property
    def balancer(self) -> Node:
        return names.balancer(self.prefix)

    @property
    def backend_nodes(self) -> tuple[Node, ...]:
        return tuple(names.backend(self.prefix, i) for i in range(1, self.backends + 1))

    @property
    def nodes(self) -> tuple[Node, ...]:
        return (self.client, self.balancer, *self.backend_nodes)

    @property
    def lb_ns(self) -> str:
        return self.balancer.ns

    @property
    def lb_ifname(self) -> str:
        return self.balancer.ifname

    @property
    def vip(self) -> str:
        return names.VIP

    @property
    def outer_saddr(self) -> str:
        return names.OUTER_SADDR

    @property
    def vip6(self) -> str:
        return names.VIP6

    @property
    def outer_saddr6(self) -> str:
        return names.OUTER_SADDR6

    @property
    def udp_port(self) -> int:
        return names.UDP_PORT

    @property
    def http_port(self) -> int:
        return names.HTTP_PORT

    @property
    def state_dir(self) -> Path:
        return names.state_dir(self.prefix)

    @property
    def csv_path(self) -> Path:
        return self.state_dir / "destinations.csv"

    @property
    def csv6_path(self) -> Path:
        return self.state_dir / "destinations6.csv"

    # Running things inside

    def run_in(
        self, ns: str, argv: Sequence[str], *, timeout: float = 30.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` in namespace `ns`; LabError with its message if it fails."""
        return run_in(ns, argv, timeout=timeout, check=check)

    def socket(
        self, ns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM, proto: int = 0
    ) -> socket.socket:
        """A socket living in `ns`, usable from this process and any thread.

        A socket belongs to the namespace it was created in, whoever uses it
        later: tests hold TCP connections from the client this way.
        """
        try:
            return namespaces.socket_in(ns, family, kind, proto)
        except (NetlinkError, OSError) as exc:
            raise LabError(f"socket in {ns}: {exc}", tool="netns") from exc

    # Life cycle

    def up(self) -> None:
        """Create or complete the lab; on an existing one, change nothing that works."""
        require_root()
        scalecheck.refuse_single_over_scale(self.prefix)
        xdp.build()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._remove_surplus_backends()

        for ns in (self.switch_ns, *(n.ns for n in self.nodes)):
            topology.ensure_namespace(ns)
            # The switch is a bridge: it needs no address of either family.
            topology.write_sysctls(ns, IPV6_ON if ns != self.switch_ns else namespaces.IPV6_OFF)
        topology.ensure_bridge(self.switch_ns, self.bridge)
        prefixlen = names.SUBNET.prefixlen
        for node in self.nodes:
            topology.ensure_veth(self.switch_ns, self.bridge, node)
            mtu = names.CLIENT_MTU if node == self.client else None
            topology.configure_node_link(node, prefixlen, mtu)
        configure6(self.client, self.balancer, self.backend_nodes)

        topology.add_link_address(self.lb_ns, self.lb_ifname, names.PROBE_SADDR, 32)
        for node in self.backend_nodes:
            topology.write_sysctls(node.ns, backend_sysctls(node.ifname))
            topology.add_loopback_address(node.ns, self.vip)
            self._attach_aux(node.ns, node.ifname, xdp.DECAP_OBJ, xdp.DECAP_PROG)
            info = topology.link_info(node.ns, node.ifname)
            if info is None or not info.xdp_prog_id:
                raise LabError(f"{node.ifname} in {node.ns}: decap program did not stay attached")
            xdp.set_decap_address(info.xdp_prog_id, node.addr)
            xdp.set_decap_address(info.xdp_prog_id, node.addr6)
        # Trap 1 of LAB-NOTES: XDP_TX from the balancer reaches the bridge
        # only if this peer runs NAPI, i.e. has an XDP program of its own.
        self._attach_aux(self.switch_ns, self.balancer.port, xdp.PASS_OBJ, xdp.PASS_PROG)
        # Trap 2: a veth leaves TCP/UDP checksums partial; once the balancer
        # rewrites the frame the backend sees a bad checksum.
        run_in(self.client.ns, ["ethtool", "-K", self.client.ifname, "tx", "off"])
        # The bridge keeps a frame's VLAN tag as metadata; as a NIC with VLAN
        # stripping off would, the balancer's link gets it in the frame,
        # where the program sees it and passes the frame (README: VLAN tags).
        run_in(self.switch_ns, ["ethtool", "-K", self.balancer.port, "txvlan", "off"])

        topology.wait_ready(self.switch_ns, self.nodes)
        self._start_servers()
        self._write_destinations()

    def down(self) -> None:
        """Remove every namespace, process, pin dir and file of this prefix.

        Works from what exists, not from `backends`: an interrupted `up`, or
        one with more backends, is removed completely.
        """
        require_root()
        found = self._existing_namespaces()
        # And those of its processes a namespace deleted under them keeps (t16 F7).
        orphans = scalecheck.lab_processes(self.state_dir)
        teardown.stop_processes({**namespaces.pids(found), "": orphans})
        pin_dirs = self._pin_dirs()
        teardown.unpin(pin_dirs)
        for lock in labpins.lock_files(self.prefix, pin_dirs):
            lock.unlink(missing_ok=True)
        for ns in found:
            topology.remove_namespace(ns)
        # The lab never makes links here; one would only exist if something
        # else moved it out.  The name pattern is the lab's own, nobody else's.
        pattern = names.link_re(self.prefix)
        topology.delete_links(
            None, [li.ifname for li in topology.links(None) if pattern.match(li.ifname)]
        )
        teardown.remove_state(self.state_dir)

    def status(self) -> LabStatus:
        require_root()
        found = self._existing_namespaces()
        pids = namespaces.pids(found)
        return LabStatus(
            prefix=self.prefix,
            namespaces=tuple(
                NamespaceStatus(
                    name=ns,
                    links=tuple(_link_status(li) for li in topology.links(ns)),
                    processes=tuple(_process(pid) for pid in pids.get(ns, [])),
                )
                for ns in found
            ),
            pin_dirs=tuple(str(p) for p in self._pin_dirs()),
            csv_path=str(self.csv_path) if self.csv_path.exists() else None,
        )

    def traffic(
        self,
        *,
        count: int = DEFAULT_COUNT,
        duration: float = DEFAULT_DURATION,
        interval: float = 0.0,
        from_ns: str | None = None,
        target: str | None = None,
        check: Callable[[], None] = lambda: None,
    ) -> TrafficReport:
        """Real UDP and HTTP requests, by default from the client to the VIP.

        `count` requests of each kind, `interval` seconds apart, none started
        after `duration` seconds; `check` is called meanwhile, and what it
        raises ends them.
        """
        require_root()
        if count < 1 or duration <= 0 or interval < 0:
            raise LabError(
                f"bad traffic bounds: count {count} (at least 1), duration {duration:g} "
                f"(more than 0), interval {interval:g} (not negative)"
            )
        self._require_client()
        argv = python_module(
            TRAFFIC_MODULE,
            "--target", target or self.vip,
            "--udp-port", str(self.udp_port),
            "--http-port", str(self.http_port),
            "--count", str(count),
            "--duration", str(duration),
            "--interval", str(interval),
        )  # fmt: skip
        # The client stops starting requests after `duration`; the margin
        # covers its start-up and the last requests' timeouts.
        done = run_in(
            from_ns or self.client.ns,
            argv,
            timeout=duration + 15,
            bounded=True,
            meanwhile=check,
        )
        return TrafficReport.from_json(done.stdout)

    def flood(self, duration: float, check: Callable[[], None] = lambda: None) -> FloodReport:
        """hping3 UDP and TCP SYN floods from the client to the VIP for
        `duration` s, or until `check()` raises."""
        require_root()
        self._require_client()
        client = self.client
        return flood(
            client.ns, client.ifname, self.vip, self.udp_port, self.http_port, duration, check
        )

    def destinations(self, ipv6: bool = False) -> list[tuple[str, str]]:
        """(IP, MAC) of every backend (its IPv6 address if `ipv6`), read from the kernel."""
        return [
            (b.addr6 if ipv6 else b.addr, topology.link_mac(b.ns, b.ifname))
            for b in self.backend_nodes
        ]

    # Internals

    def _require_client(self) -> None:
        if self.client.ns not in namespaces.listed():
            raise LabError(
                f"no lab {self.prefix} here (no namespace {self.client.ns}): lab up first"
            )

    def _existing_namespaces(self) -> list[str]:
        pattern = names.namespace_re(self.prefix)
        return [ns for ns in namespaces.listed() if pattern.match(ns)]

    def _pin_dirs(self) -> list[Path]:
        return labpins.pin_dirs(self.prefix, self._existing_namespaces())

    def _remove_surplus_backends(self) -> None:
        """A second `up` with fewer backends removes the extra ones."""
        surplus = []
        for ns in self._existing_namespaces():
            index = names.backend_index(self.prefix, ns)
            if index is not None and index > self.backends:
                surplus.append(ns)
        if surplus:
            teardown.stop_processes(namespaces.pids(surplus))
            for ns in surplus:
                topology.remove_namespace(ns)
            # Their bridge ports died with their peers; nothing else to undo.

    def _attach_aux(self, ns: str, ifname: str, obj: Path, prog: str) -> None:
        info = topology.link_info(ns, ifname)
        current = info.xdp_prog_id if info and info.xdp_prog_id else None
        xdp.attach(ns, ifname, obj, current, prog)

    def _running_servers(self) -> set[str]:
        """Backends whose server process is alive (by its command line)."""
        pids = namespaces.pids(n.ns for n in self.backend_nodes)
        running = set()
        for node in self.backend_nodes:
            for pid in pids.get(node.ns, []):
                argv = _process(pid).argv
                if SERVER_MODULE in argv and node.name in argv:
                    running.add(node.name)
        return running

    def _start_servers(self, only: Collection[Node] | None = None) -> None:
        running = self._running_servers()
        starting = []
        for node in self.backend_nodes:
            if node.name in running or (only is not None and node not in only):
                continue
            v6 = ("--addr6", self.vip6, "--own-addr6", node.addr6)
            argv = python_module(
                SERVER_MODULE,
                "--name", node.name,
                "--addr", self.vip,
                "--own-addr", node.addr,
                # Where the backend holds the IPv6 VIP (a lab an older l4lb built may not).
                *(v6 if self.vip6 in topology.loopback_addresses(node.ns) else ()),
                "--udp-port", str(self.udp_port),
                "--http-port", str(self.http_port),
                "--lab", self.prefix,
                "--log", str(self.state_dir / f"{node.name}.log"),
            )  # fmt: skip
            starting.append((node, argv, spawn_in(node.ns, argv)))
        # Started together, awaited in turn: each exits as soon as it listens.
        errors = []
        for node, argv, proc in starting:
            try:
                out, err = proc.communicate(timeout=SERVER_START_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                err = f"not listening after {SERVER_START_TIMEOUT:g} s"
            if proc.returncode != 0 or not out.startswith("ready"):
                errors.append(f"{node.name}: {tool_message(argv, proc.returncode, out, err)}")
        if errors:
            raise LabError("; ".join(errors), tool="servers")

    def _write_destinations(self) -> None:
        for path, v6 in ((self.csv_path, False), (self.csv6_path, True)):
            lines = format_csv(Destination(ip, mac) for ip, mac in self.destinations(v6))
            tmp = path.with_suffix(".tmp")
            tmp.write_text(lines)
            # Readers (the balancer's `map -f`) never see a half-written file.
            tmp.replace(path)


def _link_status(li: LinkInfo) -> LinkStatus:
    xdp_status = None
    if li.xdp_prog_id:
        prog = xdp.program(li.xdp_prog_id)
        decap_addr = decap = None
        if prog.name == xdp.DECAP_PROG:
            decap_addr, decap = xdp.decap_status(prog)
        xdp_status = XdpStatus(li.xdp_prog_id, li.xdp_mode, prog.name, decap_addr, decap)
    addrs = (*li.ipv4, *li.ipv6)
    return LinkStatus(
        li.ifname, li.state, li.mac, li.mtu, addrs, xdp_status, li.rx_packets, li.tx_packets
    )


def _process(pid: int) -> ProcessStatus:
    return ProcessStatus(pid, procfs.cmdline(pid))
