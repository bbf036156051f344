"""Config files: what they declare, and every error with its line and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l4lb_tui.abi import ServiceKey
from l4lb_tui.config_file import ConfigError, parse_config, read_config
from l4lb_tui.config_lines import key_lines
from l4lb_tui.config_model import NEIGHBOUR, BackendSpec

GOOD = """\
# the lab, as a config
[[balancer]]
interface = "lab-lb0"
netns = "lab-lb"
mode = "driver"
source = "10.0.0.1"

[[balancer.service]]
vip = "10.0.0.4:8080/tcp"
backends = [
  { ip = "10.0.0.11", mac = "02:00:00:00:00:0b" },
  { ip = "10.0.0.12", mac = "neighbour", weight = 3 },
  { ip = "10.0.0.13", mac = "02:00:00:00:00:0d", drained = true },
]

[balancer.service.health]
check = "http"
path = "/health"
rise = 3

[[balancer.service]]
vip = "10.0.0.4:9000/udp"
fill = "roundrobin"
destinations = "dests.csv"

[metrics]
listen = "127.0.0.1:9555"
"""


def test_a_config_reads_as_declared(tmp_path: Path) -> None:
    (tmp_path / "dests.csv").write_text("10.0.0.21, 02:00:00:00:00:15, 2\n")
    (tmp_path / "l4lb.toml").write_text(GOOD)
    config = read_config(tmp_path / "l4lb.toml")
    (bal,) = config.balancers
    assert (bal.interface, bal.netns, bal.mode, bal.source) == (
        "lab-lb0", "lab-lb", "driver", "10.0.0.1"
    )  # fmt: skip
    http, udp = bal.services
    assert http.keys == (ServiceKey("10.0.0.4", 8080, 6),)
    assert http.backends[1] == BackendSpec("10.0.0.12", NEIGHBOUR, 3)
    assert http.backends[2].drained
    assert http.health is not None and (http.health.path, http.health.rise) == ("/health", 3)
    assert http.health.fall == 3 and http.health.interval == 1.0  # HAProxy-like defaults
    assert udp.fill == "roundrobin" and udp.backends == (
        BackendSpec("10.0.0.21", "02:00:00:00:00:15", 2),
    )
    assert config.metrics_listen == "127.0.0.1:9555"


BAD = [
    ('netns = "a/b"', 3, "balancer[0].netns", "not a valid network namespace name"),
    ('mode = "drivr"', 3, "balancer[0].mode", "must be one of driver, generic, offload"),
    ('source = "224.0.0.1"', 3, "balancer[0].source", "multicast"),
    ('colour = "red"', 3, "balancer[0].colour", "unknown key"),
]


@pytest.mark.parametrize(("line", "at", "key", "words"), BAD)
def test_each_error_names_its_line_and_key(line: str, at: int, key: str, words: str) -> None:
    text = f'[[balancer]]\ninterface = "eth1"\n{line}\n'
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    found = [p for p in err.value.problems if p.key == key]
    assert found and found[0].line == at and words in found[0].message, err.value.lines()


def test_a_bad_interface_name() -> None:
    with pytest.raises(
        ConfigError, match=r"line 2: balancer\[0\].interface: 'eth 1' is not a valid"
    ):
        parse_config('[[balancer]]\ninterface = "eth 1"\n')


def test_every_error_is_reported_at_once() -> None:
    text = """\
[[balancer]]
interface = "eth1"
[[balancer.service]]
vip = "10.0.0.4:"
[[balancer.service]]
vip = "10.0.0.5:80/tcp"
backends = [
  { ip = "10.0.0.11", mac = "02:00:00:00:00:0b" },
  { ip = "10.0.0.12", mac = "ff:ff:ff:ff:ff:ff", weight = 70000 },
  { ip = "10.0.0.11", mac = "02:00:00:00:00:0e" },
  { ip = "10.0.0.5", mac = "02:00:00:00:00:0c" },
]
ring_size = 4
[balancer.service.health]
check = "icmp"
[[balancer.service]]
vip = "10.0.0.5:80"
"""
    with pytest.raises(ConfigError) as err:
        parse_config(text, Path("l4lb.toml"))
    lines = err.value.lines()
    text_all = "\n".join(lines)
    for words in [
        "line 4: balancer[0].service[0].vip: service '10.0.0.4:': the port is empty",
        "line 9: balancer[0].service[1].backends[1].mac: ff:ff:ff:ff:ff:ff is the broadcast MAC",
        "line 9: balancer[0].service[1].backends[1].weight: must be a whole number",
        "10.0.0.11 is listed twice",
        "10.0.0.5 is the service's own VIP",
        "Maglev needs a prime ring size",
        "line 15: balancer[0].service[1].health.check: must be one of tcp, http, udp",
        "line 16: balancer[0].service: 10.0.0.5:80/tcp is named twice (lines 5 and 16)",
    ]:
        assert words in text_all, text_all
    assert all(line.startswith("l4lb.toml: line ") for line in lines)
    assert str(err.value).endswith(f"(and {len(lines) - 1} more)")


def test_broken_toml_and_empty_configs_are_refused() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[[balancer]\n")
    with pytest.raises(ConfigError, match="at least one"):
        parse_config("# nothing\n")
    with pytest.raises(ConfigError, match="configured twice"):
        parse_config('[[balancer]]\ninterface = "a"\n[[balancer]]\ninterface = "a"\n')


def test_a_destinations_file_error_is_the_configs(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("10.0.0.11, zz\n")
    text = '[[balancer]]\ninterface = "a"\n[[balancer.service]]\nvip = "10.0.0.4"\ndestinations = "d.csv"\n'
    with pytest.raises(ConfigError, match=r"line 5: .*destinations: .*d.csv.*line 1"):
        parse_config(text, tmp_path / "l4lb.toml")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_gets_one_line_per_problem(text: str) -> None:
    try:
        parse_config(text)
    except ConfigError as exc:
        assert all("\n" not in line for line in exc.lines())
    key_lines(text)  # never raises


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["interface", "netns", "mode", "source", "colour"]),
        st.one_of(st.text(max_size=20), st.integers(), st.booleans()),
    )
)
def test_hostile_values_are_refused_with_their_key(values: dict[str, object]) -> None:
    body = "".join(f"{k} = {_toml(v)}\n" for k, v in values.items())
    try:
        parse_config(f"[[balancer]]\n{body}")
    except ConfigError as exc:
        assert all(p.key.startswith("balancer") and p.line for p in exc.problems)


def _toml(v: object) -> str:
    """A TOML value: JSON's escapes are TOML's, but for DEL, which JSON leaves raw."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v), ensure_ascii=False).replace("\x7f", "\\u007f")


NODES_BASE = (
    '[[balancer]]\ninterface = "eth0"\n[[balancer.service]]\nvip = "10.0.0.4:80/tcp"\n'
    'backends = [ { ip = "10.0.0.11", mac = "02:00:00:00:00:11" } ]\n'
)


def test_nodes_are_read_in_order_with_their_overrides() -> None:
    text = NODES_BASE + (
        '[[node]]\nnetns = "h16b-n1"\ninterface = "h16b-n10"\nsource = "10.0.0.21"\n'
        '[[node]]\nnetns = "h16b-n2"\n'
    )
    config = parse_config(text)
    assert [(n.netns, n.interface, n.source) for n in config.nodes] == [
        ("h16b-n1", "h16b-n10", "10.0.0.21"),
        ("h16b-n2", None, None),
    ]
    assert parse_config(NODES_BASE).nodes == ()


@pytest.mark.parametrize(
    ("nodes", "said"),
    [
        ('[[node]]\ninterface = "x0"\n', "needs its netns"),
        ('[[node]]\nnetns = "a"\n[[node]]\nnetns = "a"\n', "listed twice"),
        ('[[node]]\nnetns = "a"\ncolour = "red"\n', "colour"),
    ],
)
def test_bad_nodes_are_refused(nodes: str, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(NODES_BASE + nodes)
    assert said in "\n".join(caught.value.lines())
