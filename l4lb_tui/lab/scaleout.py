"""The scale-out lab: a client behind a BIRD router that spreads the VIP's
flows over N balancer nodes by ECMP, each node its own namespace, XDP
balancer and daemon announcing the VIP over BGP (with BFD), and backends
that take IPIP from any node.  Dual-stack: the IPv6 VIP is announced by
each node over its IPv6 session, spread the same way, and carried to the
backends in ip6ip6.

It is the single-node lab (`lab.py`) with the balancer replaced: the switch,
the backends, their servers and the destinations file are that lab's, made
by the same steps; `down` is that lab's too (its name patterns cover the
router and the nodes, and every process, daemons and birds included, lives
in one of the lab's namespaces).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui.bgp import BirdError, Speaker
from l4lb_tui.daemon import pidfile
from l4lb_tui.destinations import Destination
from l4lb_tui.lab import (
    names,
    scalecheck,
    scaleconfig,
    scalenames,
    teardown,
    topology,
    xdp,
)
from l4lb_tui.lab.addressing import IPV6_ON, backend_sysctls
from l4lb_tui.lab.errors import LabError
from l4lb_tui.lab.lab import Lab, require_root
from l4lb_tui.lab.names import Node
from l4lb_tui.lab.tools import child_env, python_module, run_in
from l4lb_tui.netlink import NetlinkError, build, namespaces

ROUTER_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    # Hash on the 5-tuple: flows, not packets or hosts, are spread.
    "net.ipv4.fib_multipath_hash_policy": "1",
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    "net.ipv6.conf.all.forwarding": "1",
    "net.ipv6.fib_multipath_hash_policy": "1",
}
ANNOUNCE_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class ScaleLab:
    prefix: str = names.DEFAULT_PREFIX
    nodes: int = scalenames.DEFAULT_NODES
    backends: int = names.DEFAULT_BACKENDS
    bfd: bool = True

    def __post_init__(self) -> None:
        scalenames.check_nodes(self.nodes)

    @property
    def base(self) -> Lab:
        return Lab(self.prefix, self.backends)

    @property
    def router(self) -> Node:
        return scalenames.router(self.prefix)

    @property
    def client(self) -> Node:
        return scalenames.client(self.prefix)

    @property
    def node_list(self) -> tuple[Node, ...]:
        return tuple(scalenames.node(self.prefix, i) for i in range(1, self.nodes + 1))

    @property
    def vip(self) -> str:
        return names.VIP

    @property
    def vip6(self) -> str:
        return names.VIP6

    @property
    def router_speaker(self) -> Speaker:
        return Speaker(self.base.state_dir, "router", self.router.ns)

    def node_dir(self, index: int) -> Path:
        return scalenames.node_dir(self.prefix, index)

    def node_env(self, index: int) -> dict[str, str]:
        """The environment of node `index`'s daemon and of commands meant for it."""
        return {**child_env(), "L4LB_RUN_DIR": str(self.node_dir(index))}

    # Life cycle

    def up(self) -> list[str]:
        """Create, complete or reshape the lab; what it says of the nodes it
        removed and of those left drained."""
        require_root()
        base = self.base
        scalecheck.refuse_scale_over_single(self.prefix)
        scalecheck.refuse_orphans(self.prefix, base.state_dir)
        scalecheck.refuse_bfd_change(self.prefix, self.router_speaker.conf, self.bfd)
        scalecheck.refuse_ipv4_only(self.prefix, self.router_speaker.conf)
        xdp.build()
        base.state_dir.mkdir(parents=True, exist_ok=True)
        said = self._remove_surplus_nodes()
        on_bridge = (self.router, *self.node_list, *base.backend_nodes)
        topology.ensure_namespace(base.switch_ns)
        # The switch is a bridge: it needs no address of either family.
        topology.write_sysctls(base.switch_ns, namespaces.IPV6_OFF)
        for ns in (self.client.ns, *(n.ns for n in on_bridge)):
            topology.ensure_namespace(ns)
            topology.write_sysctls(ns, IPV6_ON)
        topology.ensure_bridge(base.switch_ns, base.bridge)
        for n in on_bridge:
            topology.ensure_veth(base.switch_ns, base.bridge, n)
            topology.configure_node_link(n, names.SUBNET.prefixlen)
            topology.add_link_address(n.ns, n.ifname, n.addr6, names.SUBNET6.prefixlen)
        self._router_and_client()
        for n in base.backend_nodes:
            self._backend(n)
        for i, n in enumerate(self.node_list, 1):
            topology.add_link_address(n.ns, n.ifname, scalenames.probe_addr(i), 32)
            topology.add_link_address(n.ns, n.ifname, scalenames.probe_addr6(i), 128)
            # Trap 1 of LAB-NOTES: a node's XDP_TX reaches the bridge only
            # if its bridge port runs an XDP program of its own.
            base._attach_aux(base.switch_ns, n.port, xdp.PASS_OBJ, xdp.PASS_PROG)
        topology.wait_ready(base.switch_ns, on_bridge)
        base._start_servers()
        base._write_destinations()
        self._start_router()
        for i in range(1, self.nodes + 1):
            self.start_node(i)
        # A drained node stays drained across a restart: it is not awaited (t16 F14).
        drained = scalecheck.drained(self.prefix, self.nodes)
        self.wait_routes(self.nodes - len(drained), ANNOUNCE_TIMEOUT)
        self.wait_routes(self.nodes - len(drained), ANNOUNCE_TIMEOUT, self.vip6)
        # A lab node is found by its name, whatever the shell's L4LB_RUN_DIR.
        nodes = self.node_list
        return said + [f"node n{i}: drained (l4lb node undrain {nodes[i - 1].ns})" for i in drained]

    def down(self) -> None:
        self.base.down()

    def _router_and_client(self) -> None:
        rt, cl = self.router, self.client
        link = scalenames.router_client_link(self.prefix)
        plen, plen6 = scalenames.CLIENT_NET.prefixlen, scalenames.CLIENT_NET6.prefixlen
        try:
            with build.editing(rt.ns) as links:
                links.add_veth(link, cl.ifname, peer_netns=cl.ns)
                links.add_address(link, scalenames.ROUTER_CLIENT_ADDR, plen)
                links.add_address(link, scalenames.ROUTER_CLIENT_ADDR6, plen6)
                links.set(link, up=True)
            with build.editing(cl.ns) as links:
                links.add_address(cl.ifname, cl.addr, plen)
                links.add_address(cl.ifname, cl.addr6, plen6)
                links.set("lo", up=True)
                links.set(cl.ifname, mtu=names.CLIENT_MTU, up=True)
        except NetlinkError as exc:
            raise LabError(str(exc), tool="netlink") from exc
        topology.write_sysctls(rt.ns, ROUTER_SYSCTLS)
        # Set after the link's MTU, which resets it: room for ip6ip6's 40 bytes.
        topology.write_sysctls(cl.ns, {f"net.ipv6.conf.{cl.ifname}.mtu": str(names.CLIENT_MTU6)})
        run_in(cl.ns, ["ip", "route", "replace", "default", "via", scalenames.ROUTER_CLIENT_ADDR])
        via6 = scalenames.ROUTER_CLIENT_ADDR6
        run_in(cl.ns, ["ip", "-6", "route", "replace", "default", "via", via6])
        # Trap 2: partial checksums from a veth are wrong once a balancer rewrites the frame.
        run_in(cl.ns, ["ethtool", "-K", cl.ifname, "tx", "off"])

    def _backend(self, n: Node) -> None:
        topology.write_sysctls(n.ns, backend_sysctls(n.ifname))
        held = topology.loopback_addresses(n.ns)
        for vip in (self.vip, self.vip6):
            if vip not in held:
                topology.add_loopback_address(n.ns, vip)
        self.base._attach_aux(n.ns, n.ifname, xdp.DECAP_OBJ, xdp.DECAP_PROG)
        info = topology.link_info(n.ns, n.ifname)
        if info is None or not info.xdp_prog_id:
            raise LabError(f"{n.ifname} in {n.ns}: decap program did not stay attached")
        xdp.set_decap_address(info.xdp_prog_id, n.addr)
        xdp.set_decap_address(info.xdp_prog_id, n.addr6)
        # Direct server return: answers go to the client through the router.
        client_net = str(scalenames.CLIENT_NET)
        run_in(n.ns, ["ip", "route", "replace", client_net, "via", scalenames.ROUTER_ADDR])
        client_net6, via6 = str(scalenames.CLIENT_NET6), scalenames.ROUTER_ADDR6
        run_in(n.ns, ["ip", "-6", "route", "replace", client_net6, "via", via6])

    def _start_router(self) -> None:
        speaker = self.router_speaker
        text = scaleconfig.router_config(self.node_list, speaker.log, self.bfd)
        alive = speaker.alive()
        others = namespaces.pids([self.router.ns]).get(self.router.ns, [])
        if not alive and others:
            # A second router BIRD would bounce every session of the first (t16 F9).
            raise LabError(
                f"{self.router.ns} runs PID {', '.join(map(str, others))}, not the router "
                f"this lab started from {speaker.dir}: run 'l4lb lab down --prefix "
                f"{self.prefix}' first"
            )
        try:
            if alive:
                speaker.configure(text)
            else:
                speaker.start(text)
        except BirdError as exc:
            raise LabError(str(exc), tool="bird") from exc

    # Nodes

    def destinations(self, ipv6: bool = False) -> list[Destination]:
        return [Destination(ip, mac) for ip, mac in self.base.destinations(ipv6)]

    def daemon_pid(self, index: int) -> int | None:
        return pidfile.running(self.node_dir(index) / "daemon.pid")

    def start_node(self, index: int) -> None:
        """Node `index`'s daemon (and so its balancer and speaker), unless it runs."""
        if self.daemon_pid(index) is not None:
            return
        n, where = scalenames.node(self.prefix, index), self.node_dir(index)
        where.mkdir(parents=True, exist_ok=True)
        conf = where / "l4lb.toml"
        text = scaleconfig.node_config(
            n, index, self.destinations(), where / "bgp", self.bfd, self.destinations(True)
        )
        conf.write_text(text)
        argv = python_module("l4lb_tui.cli", "--netns", n.ns, "daemon", "-c", str(conf))
        with (where / "daemon.log").open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv built by the lab, no shell
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=self.node_env(index), start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 20.0
        while self.daemon_pid(index) != proc.pid:
            if proc.poll() is not None or time.monotonic() > deadline:
                said = (where / "daemon.log").read_text(errors="replace").strip().splitlines()
                raise LabError(f"node n{index}: daemon did not start: {said[-1] if said else ''}")
            time.sleep(0.05)

    def _set_port(self, index: int, up: bool) -> Node:
        """Node `index`'s switch port up or down (its link to everything); the node."""
        n = scalenames.node(self.prefix, index)
        try:
            with build.editing(self.base.switch_ns) as links:
                links.set(n.port, up=up)
        except NetlinkError as exc:
            raise LabError(str(exc), tool="netlink") from exc
        return n

    def revive_node(self, index: int) -> None:
        """A lost node back: its link up, its daemon started again."""
        n = self._set_port(index, up=True)
        topology.wait_ready(self.base.switch_ns, [n])
        self.start_node(index)

    def kill_node(self, index: int) -> None:
        """A node lost at once: its link cut, then its daemon and speaker killed."""
        n = self._set_port(index, up=False)
        pids = namespaces.pids([n.ns]).get(n.ns, [])
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def next_hops(self, vip: str | None = None) -> set[str]:
        """Where the router's kernel sends the VIP (or `vip`, say the IPv6 one) now."""
        vip = vip or self.vip
        six = ":" in vip
        argv = [
            "ip",
            "-j",
            *(["-6"] if six else []),
            "route",
            "show",
            f"{vip}/{128 if six else 32}",
        ]
        out = run_in(self.router.ns, argv).stdout
        found: set[str] = set()
        for route in json.loads(out or "[]"):
            hops = route.get("nexthops") or [route]
            found |= {h["gateway"] for h in hops if "gateway" in h}
        return found

    def wait_routes(self, count: int, timeout: float, vip: str | None = None) -> set[str]:
        vip = vip or self.vip
        deadline = time.monotonic() + timeout
        while True:
            hops = self.next_hops(vip)
            if len(hops) == count:
                return hops
            if time.monotonic() > deadline:
                raise LabError(
                    f"the router routes {vip} to {', '.join(sorted(hops)) or 'nowhere'} after "
                    f"{timeout:g} s, not to {count} nodes (see {self.base.state_dir}/*/daemon.log)"
                )
            time.sleep(0.05)

    def _remove_surplus_nodes(self) -> list[str]:
        """Nodes beyond `nodes`, wholly: processes, pins, namespace, run dir (t16 F1)."""
        surplus = {}
        for ns in namespaces.listed():
            index = scalenames.node_index(self.prefix, ns)
            if index is not None and index > self.nodes:
                surplus[index] = ns
        for index in sorted(scalecheck.dirs_beyond(self.prefix, self.nodes)):
            surplus.setdefault(index, "")
        if not surplus:
            return []
        teardown.stop_processes(namespaces.pids(v for v in surplus.values() if v))
        teardown.unpin(scalecheck.node_pins(self.prefix, sorted(surplus)))
        said = []
        for index, ns in sorted(surplus.items()):
            if ns:
                topology.remove_namespace(ns)
            teardown.remove_state(self.node_dir(index))
            said.append(f"node n{index}: removed (the lab has {self.nodes} nodes now)")
        return said
