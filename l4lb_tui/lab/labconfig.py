"""The lab as a daemon config: its balancer, its HTTP and UDP services with
health checks through the probe tunnel (and, asked for, the same services
at the IPv6 VIP, checked through the tunnel too, from the IPv6 probe
source), and where metrics are served."""

from __future__ import annotations

from l4lb_tui.destinations import read_destinations
from l4lb_tui.lab.lab import Lab
from l4lb_tui.lab.names import PROBE_SADDR, PROBE_SADDR6


def lab_config(
    lab: Lab,
    metrics: str = "127.0.0.1:9440",
    interval: float = 1.0,
    timeout: float = 0.5,
    rise: int = 2,
    fall: int = 3,
    ipv6: bool = False,
) -> str:
    """The TOML text of a config that balances the lab as `l4lb demo` does
    (with `ipv6`, its IPv6 services too)."""
    timing = f"interval = {interval}\ntimeout = {timeout}\nrise = {rise}\nfall = {fall}\n"
    sets = [(lab.vip, lab.csv_path), *([(f"[{lab.vip6}]", lab.csv6_path)] if ipv6 else [])]
    services = ""
    for vip, csv in sets:
        backends = "".join(
            f'  {{ ip = "{d.ip}", mac = "{d.mac}" }},\n' for d in read_destinations(csv)
        )
        for port, proto, check in ((lab.http_port, "tcp", "http"), (lab.udp_port, "udp", "udp")):
            services += (
                f'[[balancer.service]]\nvip = "{vip}:{port}/{proto}"\nbackends = [\n{backends}]\n'
                f'[balancer.service.health]\ncheck = "{check}"\n{timing}\n'
            )
    source6 = f'source6 = "{lab.outer_saddr6}"\n' if ipv6 else ""
    # The IPv6 probe source even without IPv6 services: the balancer's link
    # always has it, and a service added by hand is then probed through the tunnel.
    return (
        f'[[balancer]]\ninterface = "{lab.lb_ifname}"\nnetns = "{lab.lb_ns}"\nmode = "driver"\n'
        f'source = "{lab.outer_saddr}"\n{source6}probe_source = "{PROBE_SADDR}"\n'
        f'probe_source6 = "{PROBE_SADDR6}"\n\n{services}[metrics]\nlisten = "{metrics}"\n'
    )
