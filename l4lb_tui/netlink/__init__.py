"""The netlink adapter: the kernel's network configuration (rtnetlink and
network namespaces), one module family for the product, the lab and the
benchmarks alike, with one error type, NetlinkError (errors.py).

- `rtnl.py` the rtnetlink session: pyroute2's IPRoute is opened nowhere else;
- `links.py` links read (`LinkInfo`, `Netlink`);
- `build.py` links made and changed: the lab's and the benchmarks' networks;
- `namespaces.py` network namespaces: cookies, entering one (a helper thread, or
  a whole process), every reachable one, named ones made and removed;
- `xdpswitch.py` the requests of a driver <-> generic switch, made by hand
  (pyroute2 would widen the gap).

Nothing here imports pyroute2 until a request needs it.
"""

from __future__ import annotations

from l4lb_tui.netlink.errors import NetlinkError
from l4lb_tui.netlink.links import LinkInfo, Netlink, validate_ifname
from l4lb_tui.netlink.namespaces import enter_netns

__all__ = ["LinkInfo", "Netlink", "NetlinkError", "enter_netns", "validate_ifname"]
