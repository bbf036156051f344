"""The lab as a daemon config: its balancer, its HTTP and UDP services with
health checks through the probe tunnel, and where metrics are served."""

from __future__ import annotations

from l4lb_tui.destinations import read_destinations
from l4lb_tui.lab.lab import Lab
from l4lb_tui.lab.names import PROBE_SADDR


def lab_config(
    lab: Lab,
    metrics: str = "127.0.0.1:9440",
    interval: float = 1.0,
    timeout: float = 0.5,
    rise: int = 2,
    fall: int = 3,
) -> str:
    """The TOML text of a config that balances the lab as `l4lb demo` does."""
    backends = "".join(
        f'  {{ ip = "{d.ip}", mac = "{d.mac}" }},\n' for d in read_destinations(lab.csv_path)
    )
    timing = f"interval = {interval}\ntimeout = {timeout}\nrise = {rise}\nfall = {fall}\n"
    return (
        f'[[balancer]]\ninterface = "{lab.lb_ifname}"\nnetns = "{lab.lb_ns}"\nmode = "driver"\n'
        f'source = "{lab.outer_saddr}"\nprobe_source = "{PROBE_SADDR}"\n\n'
        f'[[balancer.service]]\nvip = "{lab.vip}:{lab.http_port}/tcp"\nbackends = [\n{backends}]\n'
        f'[balancer.service.health]\ncheck = "http"\n{timing}\n'
        f'[[balancer.service]]\nvip = "{lab.vip}:{lab.udp_port}/udp"\nbackends = [\n{backends}]\n'
        f'[balancer.service.health]\ncheck = "udp"\n{timing}\n'
        f'[metrics]\nlisten = "{metrics}"\n'
    )
