"""Names and addresses of a lab: pure functions of its prefix and size.

Everything the lab creates is named here, so creation (`topology`),
discovery for teardown and status all agree on one scheme:

    namespace     <p>-sw  <p>-cl  <p>-lb  <p>-be1 ... <p>-beN
                  (scale-out, scalenames.py: <p>-rt and <p>-n1 ... <p>-nN instead of <p>-lb)
    node link     <p>-cl0 <p>-lb0 <p>-be10 ...   (inside the node's namespace)
    bridge port   <p>-clp <p>-lbp <p>-be1p ...   (inside <p>-sw)
    bridge        <p>-br                         (inside <p>-sw)
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import paths
from l4lb_tui.lab.errors import LabError

DEFAULT_PREFIX = "l4lb"
DEFAULT_BACKENDS = 3
# `<p>-be99p` is 14 characters with an 8-character prefix; IFNAMSIZ allows 15.
MAX_BACKENDS = 99
MAX_PREFIX_LEN = 8
# No '-' in a prefix: `<p>-` must never match another lab's names, such as
# prefix `t` against a lab called `t-x`.
_PREFIX_RE = re.compile(rf"^[a-z][a-z0-9]{{0,{MAX_PREFIX_LEN - 1}}}$")

SUBNET = ipaddress.IPv4Network("10.0.0.0/24")
CLIENT_ADDR = "10.0.0.2"
VIP = "10.0.0.4"
# Outer source of the balancer's IPIP packets.  Nothing holds it: backends
# only check the outer destination, and replies go straight to the client.
OUTER_SADDR = "10.0.0.1"
# The health prober's own address on the balancer (the VIP is the balancer's
# address here, and backends keep what is sent to the VIP for themselves).
PROBE_SADDR = "10.0.0.3"
FIRST_BACKEND_HOST = 11

# The IPv6 half of the lab (ULA), the same roles at the same host numbers:
# backend be1 is 10.0.0.11 and fd00::11.
SUBNET6 = ipaddress.IPv6Network("fd00::/64")
CLIENT_ADDR6 = "fd00::2"
VIP6 = "fd00::4"
OUTER_SADDR6 = "fd00::1"
PROBE_SADDR6 = "fd00::3"
# ip6ip6 adds 40 bytes: the client's IPv6 MTU leaves room for them.
CLIENT_MTU6 = 1460

UDP_PORT = 9000
HTTP_PORT = 8080

# The balancer adds a 20-byte IPIP header and a veth refuses XDP_TX frames
# longer than its peer's MTU, so the client sends at most 1480 bytes: its
# encapsulated requests then still fit the 1500-byte links of the lab.
CLIENT_MTU = 1480

# The lab keeps its state in lab-<prefix>/ under /run/l4lb ($L4LB_LAB_DIR for
# the tests).  Not under $L4LB_RUN_DIR: `lab up` prints it for node commands,
# and a `lab up` run with it exported put a second lab's files (and a second
# router BIRD) under a node's directory, bouncing every session (t16 F9).
STATE_ROOT = Path(os.environ.get("L4LB_LAB_DIR", "/run/l4lb"))
# Where the balancer pins, one directory per balancer (see l4lb_tui.pinning).
PIN_ROOT = paths.PIN_ROOT


def check_prefix(prefix: str) -> str:
    if not _PREFIX_RE.fullmatch(prefix):
        raise LabError(
            f"bad prefix {prefix!r}: 1-{MAX_PREFIX_LEN} lower-case letters or digits, "
            "starting with a letter"
        )
    return prefix


def check_backends(count: int) -> int:
    if not 1 <= count <= MAX_BACKENDS:
        raise LabError(f"bad backend count {count}: 1-{MAX_BACKENDS}")
    return count


@dataclass(frozen=True, slots=True)
class Node:
    """A host of the lab: its own namespace, one veth to the switch."""

    prefix: str
    name: str
    addr: str
    addr6: str = ""  # "": this node has no IPv6 address of the lab's own

    @property
    def ns(self) -> str:
        return f"{self.prefix}-{self.name}"

    @property
    def ifname(self) -> str:
        return f"{self.prefix}-{self.name}0"

    @property
    def port(self) -> str:
        """The veth peer enslaved to the bridge, in the switch namespace."""
        return f"{self.prefix}-{self.name}p"


def client(prefix: str) -> Node:
    return Node(prefix, "cl", CLIENT_ADDR, CLIENT_ADDR6)


def balancer(prefix: str) -> Node:
    return Node(prefix, "lb", VIP, VIP6)


def backend(prefix: str, index: int) -> Node:
    """Backend `index` counts from 1, as in `be1`."""
    addr = SUBNET.network_address + FIRST_BACKEND_HOST + index - 1
    # Read as hex, the decimal host number: be1 is fd00::11.
    return Node(prefix, f"be{index}", str(addr), f"fd00::{FIRST_BACKEND_HOST + index - 1}")


def switch_ns(prefix: str) -> str:
    return f"{prefix}-sw"


def bridge(prefix: str) -> str:
    return f"{prefix}-br"


def state_dir(prefix: str) -> Path:
    return STATE_ROOT / f"lab-{prefix}"


def namespace_re(prefix: str) -> re.Pattern[str]:
    """Every namespace name a lab with this prefix may have made."""
    return re.compile(rf"^{re.escape(prefix)}-(sw|cl|lb|rt|n[1-9][0-9]?|be[1-9][0-9]?)$")


def link_re(prefix: str) -> re.Pattern[str]:
    """Every link name a lab with this prefix may have made."""
    return re.compile(rf"^{re.escape(prefix)}-(br|rtc|(cl|lb|rt|n[1-9][0-9]?|be[1-9][0-9]?)[0p])$")


def backend_index(prefix: str, ns: str) -> int | None:
    """1 for `<p>-be1`; None for any other namespace."""
    m = re.match(rf"^{re.escape(prefix)}-be([1-9][0-9]?)$", ns)
    return int(m.group(1)) if m else None
