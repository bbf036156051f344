"""The daemon's balancer after its link was renamed: found by identity.

The config names an interface; the daemon learns the balancer's identity
(namespace cookie, interface index) when it configures its checks.  A link
renamed since is the same balancer under another name, as for every CLI
command: the daemon carries on with it, and says that the config names the
old name (a reload of that config cannot apply until it is edited).  A
daemon started on a config whose link was renamed while no daemon ran does
the same: it applies the config to the renamed link and says so, rather
than exit and be restarted, in a loop, by its service manager.
"""

from __future__ import annotations

from dataclasses import replace

from l4lb_tui import config_apply, locate
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.config_model import BalancerSpec, Config
from l4lb_tui.identity import BalancerId
from l4lb_tui.netlink import Netlink, NetlinkError


def balancer(spec: BalancerSpec, ident: BalancerId | None) -> tuple[Balancer, str]:
    """`spec`'s balancer, and "" or the line that says it was followed to
    another name.  Raises the lookup's error when it cannot be found so."""
    try:
        return config_apply.balancer_of(spec), ""
    except BalancerError:
        if ident is None:
            raise
        link = Netlink(netns=spec.netns).by_index(ident.ifindex)
        if link is None or link.ifname == spec.interface:
            raise
        b = Balancer(link.ifname, netns=spec.netns)
        if b.where.ident != ident:
            raise
        return b, (
            f"interface {spec.interface} was renamed to {link.ifname}: the health checks "
            f"follow it, but the config still names {spec.interface} (edit it, then reload)"
        )


def identity(spec: BalancerSpec) -> BalancerId | None:
    """The balancer's identity as the config's name finds it now (None: not found)."""
    try:
        return config_apply.balancer_of(spec).where.ident
    except Exception:  # a balancer not found now has none to follow
        return None


def renamed(config: Config) -> tuple[Config, list[str]]:
    """`config` with each balancer whose link was renamed under the link's
    name now, and the line to say of each."""
    placed, said = [], []
    for spec in config.balancers:
        try:
            now = locate.renamed_to(spec.interface, Netlink(netns=spec.netns))
        except (BalancerError, NetlinkError):
            now = None  # the apply says what is wrong with it
        if now is None:
            placed.append(spec)
            continue
        placed.append(replace(spec, interface=now))
        said.append(
            f"interface {spec.interface} was renamed to {now}: the daemon applies the config "
            f"to it, but the config still names {spec.interface} (edit it, then reload)"
        )
    return replace(config, balancers=tuple(placed)), said
