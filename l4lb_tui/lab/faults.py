"""Breaking a backend the ways that matter to health checks, and mending it.

    server  its servers stop (clients and every probe are refused)
    vip     the VIP leaves its loopback (what the balancer sends it is
            dropped; its own address still answers)
    decap   its IPIP decapsulation stops (the same, one step earlier)

Each is idempotent: breaking a broken backend or fixing a sound one changes
nothing.  `lab down` removes the whole backend, faults included.
"""

from __future__ import annotations

import threading

from l4lb_tui import procfs
from l4lb_tui.lab import names, topology, xdp
from l4lb_tui.lab.errors import LabError
from l4lb_tui.lab.lab import Lab
from l4lb_tui.lab.names import Node
from l4lb_tui.lab.servers import SERVER_MODULE
from l4lb_tui.lab.status import BackendFaults
from l4lb_tui.lab.tools import run_tool
from l4lb_tui.netlink import namespaces

FAULTS = ("server", "vip", "decap")
STOP_GRACE = 2.0


def existing(prefix: str) -> Lab:
    """The lab of this prefix as it is, with as many backends as it has."""
    found = [
        index
        for ns in namespaces.listed()
        if (index := names.backend_index(prefix, ns)) is not None
    ]
    if not found:
        raise LabError(f"no lab {prefix} here (no backend namespace): lab up first")
    return Lab(prefix, max(found))


def backend(lab: Lab, index: int) -> Node:
    if not 1 <= index <= lab.backends:
        raise LabError(f"no backend {index}: lab {lab.prefix} has backends 1-{lab.backends}")
    return lab.backend_nodes[index - 1]


def break_backend(lab: Lab, index: int, how: str) -> str:
    """Break backend `index` (from 1) in the way `how` names; what was done."""
    node = backend(lab, index)
    if how not in FAULTS:
        raise LabError(f"unknown fault {how!r}: one of {', '.join(FAULTS)}")
    if how in faults(lab, node):
        return f"{node.name}: {how} already broken"
    if how == "server":
        _stop_servers(lab, node)
    elif how == "vip":
        for vip in _vips(lab):
            if vip in topology.loopback_addresses(node.ns):
                plen = 128 if ":" in vip else 32
                run_tool(["ip", "-n", node.ns, "address", "del", f"{vip}/{plen}", "dev", "lo"])
    else:
        run_tool(["ip", "-n", node.ns, "link", "set", "dev", node.ifname, "xdpdrv", "off"])
    return f"{node.name}: {how} broken"


def fix_backend(lab: Lab, index: int, how: str | None = None) -> str:
    """Mend backend `index` (every fault, or only `how`); what was done."""
    node = backend(lab, index)
    wanted = FAULTS if how is None else (how,)
    if how is not None and how not in FAULTS:
        raise LabError(f"unknown fault {how!r}: one of {', '.join(FAULTS)}")
    broken = [f for f in faults(lab, node) if f in wanted]
    # The VIP first: the servers bind to it, and could not start without it.
    for fault in sorted(broken, key=FAULTS.index, reverse=True):
        if fault == "vip":
            for vip in _vips(lab):
                topology.add_loopback_address(node.ns, vip)
        elif fault == "decap":
            info = topology.link_info(node.ns, node.ifname)
            current = info.xdp_prog_id if info and info.xdp_prog_id else None
            xdp.attach(node.ns, node.ifname, xdp.DECAP_OBJ, current, xdp.DECAP_PROG)
            info = topology.link_info(node.ns, node.ifname)
            if info is None or not info.xdp_prog_id:
                raise LabError(f"{node.ifname} in {node.ns}: decap program did not attach")
            for addr in (node.addr, node.addr6)[: len(_vips(lab))]:
                xdp.set_decap_address(info.xdp_prog_id, addr)
        else:
            lab._start_servers(only=[node])
    return f"{node.name}: {', '.join(broken)} fixed" if broken else f"{node.name}: nothing broken"


def faults(lab: Lab, node: Node) -> list[str]:
    """What is broken on `node` now, in FAULTS order."""
    found = []
    if node.name not in lab._running_servers():
        found.append("server")
    if not set(_vips(lab)) <= topology.loopback_addresses(node.ns):
        found.append("vip")
    if not _decapsulates(node):
        found.append("decap")
    return found


def _vips(lab: Lab) -> tuple[str, ...]:
    """The VIPs a backend of this lab holds: both families, in the
    single-node lab and in the scale-out one alike."""
    return (lab.vip, lab.vip6)


def broken(prefix: str) -> tuple[BackendFaults, ...]:
    """Every backend of lab `prefix` with a fault, for `lab status` (none
    when the lab has no backends)."""
    try:
        lab = existing(prefix)
    except LabError:
        return ()
    found = ((i, node, faults(lab, node)) for i, node in enumerate(lab.backend_nodes, 1))
    return tuple(BackendFaults(i, node.name, tuple(f)) for i, node, f in found if f)


def _decapsulates(node: Node) -> bool:
    """The decap program is attached and knows the backend's address."""
    info = topology.link_info(node.ns, node.ifname)
    if info is None or not info.xdp_prog_id:
        return False
    prog = xdp.program(info.xdp_prog_id)
    return prog.name == xdp.DECAP_PROG and xdp.decap_status(prog)[0] == node.addr


def _stop_servers(lab: Lab, node: Node) -> None:
    pids = [pid for pid in namespaces.pids([node.ns]).get(node.ns, []) if _is_server(pid, node)]
    pids = procfs.stop(pids, STOP_GRACE, running=lambda pid: _is_server(pid, node))
    if not pids:
        return
    raise LabError(f"{node.name}: server processes {pids} outlived SIGKILL")


def _is_server(pid: int, node: Node) -> bool:
    """Alive (not a zombie) and the server of `node`, by its command line."""
    argv = procfs.cmdline(pid)
    return procfs.alive(pid) and SERVER_MODULE in argv and node.name in argv


def cycle(
    lab: Lab, index: int, stop: threading.Event, healthy: float, broken: float, how: str = "server"
) -> None:
    """Break backend `index` for `broken` seconds after each `healthy` ones,
    until `stop` is set; mended when it ends (the demo's failing backend)."""
    try:
        while not stop.wait(healthy):
            break_backend(lab, index, how)
            if stop.wait(broken):
                break
            fix_backend(lab, index, how)
    finally:
        fix_backend(lab, index)
