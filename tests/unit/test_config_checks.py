"""What the daemon would refuse or trip over later is refused by the config
check, one line each with its line and key (issue 15's tester, 5, 16, 17, 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from l4lb_tui.config_file import ConfigError, parse_config
from l4lb_tui.config_render import render

HEAD = '[[balancer]]\ninterface = "eth1"\nsource = "10.0.0.1"\nprobe_source = "10.0.0.3"\n'


def _service(vip: str, health: str) -> str:
    return (
        f'{HEAD}[[balancer.service]]\nvip = "{vip}"\n'
        'backends = [{ ip = "10.0.0.11", mac = "02:00:00:00:00:0b" }]\n'
        f"[balancer.service.health]\n{health}"
    )


def _refused(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, Path("l4lb.toml"))
    return err.value.lines()


HEALTH = [
    ("10.0.0.5", 'check = "tcp"\n', "service[0].health.port: a service on every port needs"),
    ("10.0.0.5:80/udp", 'check = "http"\n', "health.check: a http check cannot probe a UDP"),
    ("10.0.0.5:80/tcp", 'check = "udp"\n', "health.check: a udp check cannot probe a TCP"),
    ("10.0.0.5:80/tcp", 'check = "tcp"\npath = "/x"\n', "health.path: is for http checks"),
    ("10.0.0.5:80/tcp", 'check = "http"\npath = "x"\n', "health.path: 'x' must start with /"),
    ("10.0.0.5:80/tcp", 'check = "http"\npath = "/a\\r\\nX: y"\n', "no spaces or control"),
    ("*", 'check = "tcp"\nport = 80\n', 'service[0].health: a catch-all service ("*")'),
    ("10.0.0.5:53/udp", f'check = "udp"\nsend = "{"A" * 70000}"\n', "health.send: is 70,000 bytes"),
    ("10.0.0.5:53/udp", f'check = "udp"\nexpect = "{"A" * 65488}"\n', "health.expect: is 65,488"),
]


@pytest.mark.parametrize(("vip", "health", "words"), HEALTH)
def test_a_health_check_the_daemon_could_not_run_is_refused(
    vip: str, health: str, words: str
) -> None:
    lines = _refused(_service(vip, health))
    assert any(words in line and line.startswith("l4lb.toml: line ") for line in lines), lines


def test_a_health_check_on_every_port_with_its_own_port_is_fine() -> None:
    parse_config(_service("10.0.0.5", 'check = "tcp"\nport = 8080\n'))


@pytest.mark.parametrize("listen", ["127.0.0.1:99999", "", "127.0.0.1:0", ":9440", "x:80", "9440"])
def test_a_metrics_address_the_daemon_cannot_serve_is_refused(listen: str) -> None:
    lines = _refused(f'{HEAD}[metrics]\nlisten = "{listen}"\n')
    assert any("line 6: metrics.listen: " in line for line in lines), lines


@pytest.mark.parametrize("listen", ["127.0.0.1:9440", "[::1]:9440", "0.0.0.0:1"])
def test_a_metrics_address_it_can_serve_is_fine(listen: str) -> None:
    assert parse_config(f'{HEAD}[metrics]\nlisten = "{listen}"\n').metrics_listen == listen


def test_an_events_table_is_refused_not_ignored() -> None:
    lines = _refused(f'{HEAD}[events]\nfile = "/tmp/x.jsonl"\n')
    assert any("line 5: events: unknown key 'events'" in line for line in lines), lines


def test_an_unknown_top_table_names_its_key() -> None:
    lines = _refused(f'[metric]\nlisten = "127.0.0.1:1"\n{HEAD}')
    assert any("line 1: metric: unknown key 'metric'" in line for line in lines), lines


def test_a_tunnel_source_that_is_a_vip_is_refused() -> None:
    text = HEAD + '[[balancer.service]]\nvip = "10.0.0.1:80/tcp"\n'
    assert any("balancer[0].source: 10.0.0.1 is a VIP" in line for line in _refused(text))


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_a_deeply_nested_file_is_one_line_of_error(depth: int) -> None:
    (line,) = _refused("x = " + "[" * depth + "]" * depth + "\n")
    assert "nested too deeply" in line or "not valid TOML" in line


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('backends = [{ ip = "10.0.0.11" }]', 'backends[0]: a backend needs mac = "02:'),
        ('backends = [{ mac = "neighbour" }]', 'backends[0]: a backend needs ip = "10.0.0.11"'),
        ('destinations = ""', "destinations: must name a CSV file"),
        ("[balancer.service.health]", 'health.check: a check needs check = "tcp" or "http"'),
    ],
)
def test_missing_values_are_named_plainly(body: str, words: str) -> None:
    lines = _refused(f'{HEAD}[[balancer.service]]\nvip = "10.0.0.5:80/tcp"\n{body}\n')
    assert any(words in line for line in lines), lines


def test_a_byte_order_mark_is_not_content() -> None:
    assert parse_config("\ufeff" + HEAD).balancers[0].interface == "eth1"


def test_destinations_sit_beside_the_file_a_link_points_to(tmp_path: Path) -> None:
    from l4lb_tui.config_file import read_config

    real, links = tmp_path / "real", tmp_path / "links"
    real.mkdir()
    links.mkdir()
    (real / "d.csv").write_text("10.0.0.11, 02:00:00:00:00:0b\n")
    (real / "l4lb.toml").write_text(
        f'{HEAD}[[balancer.service]]\nvip = "10.0.0.5:80/tcp"\ndestinations = "d.csv"\n'
    )
    (links / "l4lb.toml").symlink_to(real / "l4lb.toml")
    (svc,) = read_config(links / "l4lb.toml").balancers[0].services
    assert [b.ip for b in svc.backends] == ["10.0.0.11"]


def test_each_error_of_a_destinations_file_is_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("10.0.0.11, zz\n10.0.0.12, 02:00:00:00:00:0c\n10.0.0.300, x\n")
    text = f'{HEAD}[[balancer.service]]\nvip = "10.0.0.5:80/tcp"\ndestinations = "d.csv"\n'
    with pytest.raises(ConfigError) as err:
        parse_config(text, tmp_path / "l4lb.toml")
    lines = [line for line in err.value.lines() if "destinations" in line]
    assert len(lines) == 2, lines
    assert "d.csv: line 1:" in lines[0] and "d.csv: line 3:" in lines[1]
    assert all("line 7: balancer[0].service[0].destinations" in line for line in lines)


def test_a_service_that_names_no_backends_at_all_is_refused() -> None:
    lines = _refused(f'{HEAD}[[balancer.service]]\nvip = "10.0.0.5:80/tcp"\n')
    assert any("line 5: balancer[0].service[0]: a service needs backends" in x for x in lines)
    # An empty list is written on purpose (export writes one for an empty service).
    parse_config(f'{HEAD}[[balancer.service]]\nvip = "10.0.0.5:80/tcp"\nbackends = []\n')


@pytest.mark.parametrize("mac", ["neighbor", "Neighbour"])
def test_a_misspelt_neighbour_names_the_right_word(mac: str) -> None:
    text = _service("10.0.0.5:80/tcp", 'check = "tcp"\n').replace('"02:00:00:00:00:0b"', f'"{mac}"')
    lines = _refused(text)
    assert any(f"'{mac}' is not a MAC address" in ln and '"neighbour"' in ln for ln in lines), lines


@pytest.mark.parametrize("wait", ["-1", "nan", "0"])
def test_reload_refuses_a_wait_that_is_no_wait(wait: str) -> None:
    import subprocess
    import sys

    res = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", "reload", "--wait", wait],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    words = ("is not a number of seconds", "is out of range")
    assert res.returncode == 2 and any(w in res.stderr for w in words), res.stderr
    assert "no answer from the daemon" not in res.stderr


@pytest.mark.parametrize("key", ["source", "probe_source"])
def test_a_source_that_is_a_backend_is_refused(key: str) -> None:
    head = HEAD.replace(f'{key} = "10.0.0.{1 if key == "source" else 3}"', f'{key} = "10.0.0.11"')
    text = (
        head
        + '[[balancer.service]]\nvip = "10.0.0.5:80/tcp"\n'
        + ('backends = [{ ip = "10.0.0.11", mac = "02:00:00:00:00:0b" }]\n')
    )
    lines = _refused(text)
    line = 3 if key == "source" else 4
    what = "outer source" if key == "source" else "probe source"
    assert any(
        ln.endswith(
            f"line 7: balancer[0].service[0].backends[0]: 10.0.0.11 is the balancer's {what} "
            f"({key}, line {line}), its own address: it cannot be a backend"
        )
        for ln in lines
    ), lines


def test_destinations_that_cannot_be_read_are_the_only_error(tmp_path: Path) -> None:
    text = (
        f'{HEAD}[[balancer.service]]\nvip = "10.0.0.5:53/udp"\ndestinations = "{tmp_path}"\n'
        '[balancer.service.health]\ncheck = "udp"\n'
    )
    lines = _refused(text)
    assert len(lines) == 1 and "destinations" in lines[0], lines


def test_a_probe_tunnel_for_an_ipv6_service_needs_probe_source6() -> None:
    """The tunnel carries ip6ip6 too; its IPv6 source is probe_source6, as
    probe_source is IPv4's, and a v6 service asking for it without one is
    refused (it was refused outright while the tunnel was IPIP only)."""
    text = (
        f'{HEAD}source6 = "fd00::1"\n[[balancer.service]]\nvip = "[fd00::4]:80/tcp"\n'
        'backends = [{ ip = "fd00::11", mac = "02:00:00:00:00:0b" }]\n'
        '[balancer.service.health]\ncheck = "tcp"\ntarget = "tunnel"\n'
    )
    lines = _refused(text)
    assert len(lines) == 1 and lines[0].endswith(
        'balancer[0]: a check with target = "tunnel" on an IPv6 service needs the '
        "balancer's probe_source6"
    ), lines
    with_source = text.replace(
        'source6 = "fd00::1"\n', 'source6 = "fd00::1"\nprobe_source6 = "fd00::3"\n'
    )
    spec = parse_config(with_source, Path("l4lb.toml")).balancers[0]
    assert spec.probe_source6 == "fd00::3"
    assert 'probe_source6 = "fd00::3"' in render(parse_config(with_source, Path("l4lb.toml")))


@pytest.mark.parametrize("address", ["fd00::4", "fd00::11"])
def test_a_probe_source6_that_is_a_vip_or_backend_is_refused(address: str) -> None:
    text = (
        f'{HEAD}probe_source6 = "{address}"\n[[balancer.service]]\nvip = "[fd00::4]:80/tcp"\n'
        'backends = [{ ip = "fd00::11", mac = "02:00:00:00:00:0b" }]\n'
    )
    lines = _refused(text)
    said = {
        "fd00::4": "line 5: balancer[0].probe_source6: fd00::4 is a VIP",
        "fd00::11": "line 8: balancer[0].service[0].backends[0]: fd00::11 is the balancer's "
        "probe source (probe_source6, line 5)",
    }[address]
    assert any(said in ln for ln in lines), lines


@pytest.mark.parametrize(("address", "what"), [("fd00::4", "VIP"), ("fd00::11", "backend")])
def test_a_source6_that_is_a_vip_or_backend_is_refused(address: str, what: str) -> None:
    """t18 MEDIUM-1: a backend as source6 passed (only a VIP was refused);
    t20 LOW-2: a backend that is the source is blamed on the backend's line,
    the edit, naming the source's."""
    text = (
        f'{HEAD}source6 = "{address}"\n[[balancer.service]]\nvip = "[fd00::4]:80/tcp"\n'
        'backends = [{ ip = "fd00::11", mac = "02:00:00:00:00:0b" }]\n'
    )
    lines = _refused(text)
    said = {
        "VIP": "line 5: balancer[0].source6: fd00::4 is a VIP",
        "backend": "line 8: balancer[0].service[0].backends[0]: fd00::11 is the balancer's "
        "outer source (source6, line 5), its own address: it cannot be a backend",
    }[what]
    assert any(ln.endswith(said) or said in ln for ln in lines), lines
    assert not any("balancer[0].source6: fd00::11" in ln for ln in lines), lines


@pytest.mark.parametrize(
    ("address", "said"),
    [
        ("fe80::1", "fe80::1 is a link-local address, which cannot be a probe source"),
        ("::1", "::1 is a loopback address, which cannot be a probe source"),
        ("[fd00::3]", "'[fd00::3]' is not an IPv6 address: write it bare ('fd00::3')"),
        ("fd00::3/128", "'fd00::3/128' is not an IPv6 address: write it bare ('fd00::3')"),
    ],
)
def test_a_probe_source6_refusal_says_what_it_is_for(address: str, said: str) -> None:
    """x17 LOW-4: these said "cannot be the outer IPv6 source address" (that
    is source6), or gave no hint to drop the brackets or the prefix."""
    lines = _refused(f'{HEAD}probe_source6 = "{address}"\n')
    assert any(f"balancer[0].probe_source6: {said}" in ln for ln in lines), lines


def test_a_target_refusal_lists_every_choice() -> None:
    text = (
        f'{HEAD}[[balancer.service]]\nvip = "10.0.0.4:80/tcp"\n'
        'backends = [{ ip = "10.0.0.11", mac = "02:00:00:00:00:0b" }]\n'
        '[balancer.service.health]\ncheck = "tcp"\ntarget = "Tunnel"\n'
    )
    lines = _refused(text)
    assert any('must be "tunnel", "address" or ""' in ln and "'Tunnel'" in ln for ln in lines)


def test_a_duplicate_backend_is_named_at_its_own_item() -> None:
    """t18 LOW-2: after an invalid item the duplicate said "items 0 and 1"
    (of the valid ones) at the line of `backends = [`."""
    text = (
        f'{HEAD}[[balancer.service]]\nvip = "10.0.0.4:80/tcp"\nbackends = [\n'
        '  { ip = "10.0.0.300", mac = "02:00:00:00:00:0b" },\n'
        '  { ip = "10.0.0.12", mac = "02:00:00:00:00:0c" },\n'
        '  { ip = "10.0.0.12", mac = "02:00:00:00:00:0d" },\n]\n'
    )
    lines = _refused(text)
    assert any(
        ln.endswith(
            "line 10: balancer[0].service[0].backends[2]: 10.0.0.12 is listed twice "
            "(backends[1] and backends[2])"
        )
        for ln in lines
    ), lines
