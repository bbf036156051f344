"""[[node]]s on other hosts (pure parts): the `host` form and `[ssh]` as
read, the node's config as sent (written back as TOML, read back the same),
the ssh command line, and a remote l4lb's answers."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import pytest

from l4lb_tui.cli import main
from l4lb_tui.config_file import ConfigError, parse_config
from l4lb_tui.config_model import Config, SshSpec
from l4lb_tui.config_nodes import for_node
from l4lb_tui.config_render import render
from l4lb_tui.remote.answers import read_reply, version_problem
from l4lb_tui.remote.ssh import Answer, ssh_argv

BASE = (
    '[[balancer]]\ninterface = "eth0"\n[[balancer.service]]\nvip = "10.0.0.4:80/tcp"\n'
    'backends = [ { ip = "10.0.0.11", mac = "02:00:00:00:00:11" } ]\n'
)

FULL = """\
[[balancer]]
interface = "eth1"
mode = "generic"
source = "10.0.0.1"
source6 = "fd00::1"
probe_source = "10.0.0.3"
flows = "8M"

[[balancer.service]]
vip = "10.0.0.4:8080/tcp"
ring_size = 16381
backends = [
  { ip = "10.0.0.12", mac = "neighbour", weight = 3 },
  { ip = "10.0.0.11", mac = "02:00:00:00:00:0b" },
  { ip = "10.0.0.13", mac = "02:00:00:00:00:0d", drained = true },
]
[balancer.service.health]
check = "http"
path = "/health"
body = "o\\"k\\u007f é"
interval = 2
target = "address"

[[balancer.service]]
vip = "10.0.0.4:53"
fill = "roundrobin"
backends = [{ ip = "10.0.0.21", mac = "02:00:00:00:00:15", weight = 0 }]
[balancer.service.health]
check = "udp"
port = 53
send = "hi"
expect = "ok"
timeout = 0.25
on_failure = "remove"
quorum = 0

[[balancer.service]]
vip = "[fd00::4]:443/tcp"
backends = [{ ip = "fd00::11", mac = "02:00:00:00:00:11" }]

[[balancer.service]]
vip = "*"
backends = [{ ip = "10.0.0.31", mac = "02:00:00:00:00:1f" }]

[metrics]
listen = "127.0.0.1:9441"

[[node]]
host = "root@lb1.example.net"
port = 2222
interface = "ens1"
source = "10.0.0.22"
"""


def test_host_nodes_and_ssh_are_read() -> None:
    text = BASE + (
        '[[node]]\nnetns = "s16-n1"\n'
        '[[node]]\nhost = "lb1.example.net"\n'
        '[[node]]\nhost = "admin@fd00::21"\nport = 2222\ninterface = "ens1"\n'
        '[ssh]\ncommand = ["sudo", "-n", "/opt/l4lb/bin/l4lb"]\nconfig = "/etc/l4lb/ssh"\n'
        'options = ["-o", "User=root"]\nconnect_timeout = 3\ntimeout = 60\n'
    )
    config = parse_config(text)
    assert [(n.name, n.netns, n.host, n.port, n.interface) for n in config.nodes] == [
        ("s16-n1", "s16-n1", None, None, None),
        ("lb1.example.net", None, "lb1.example.net", None, None),
        ("admin@fd00::21", None, "admin@fd00::21", 2222, "ens1"),
    ]
    assert config.ssh == SshSpec(
        ("sudo", "-n", "/opt/l4lb/bin/l4lb"), ("-o", "User=root"), "/etc/l4lb/ssh", 3, 60.0
    )
    one = parse_config(BASE + '[ssh]\ncommand = "/opt/l4lb/bin/l4lb"\n').ssh
    assert one.command == ("/opt/l4lb/bin/l4lb",) and parse_config(BASE).ssh == SshSpec()


@pytest.mark.parametrize(
    ("nodes", "said"),
    [
        ('[[node]]\nnetns = "a"\nhost = "lb1"\n', "not both"),
        ("[[node]]\nport = 22\n", "needs its netns (here) or its host"),
        ('[[node]]\nhost = "-oProxyCommand=touch /tmp/x"\n', "is not a host"),
        ('[[node]]\nhost = "lb1 lb2"\n', "is not a host"),
        ('[[node]]\nhost = "-x@lb1"\n', "is not a login name"),
        ('[[node]]\nhost = "lb1:22"\n', "the port is its own key"),
        ('[[node]]\nhost = ""\n', "is not a host"),
        ('[[node]]\nnetns = "a"\nport = 22\n', "is only for a host node"),
        ('[[node]]\nhost = "lb1"\nport = 0\n', "ssh's port of a host node"),
        ('[[node]]\nhost = "lb1"\n[[node]]\nhost = "root@LB1"\n', "host root@LB1 is listed twice"),
        ("[ssh]\ncommand = []\n", "ssh.command: must be a string or an array"),
        ('[ssh]\ncommand = ["l4lb", ""]\n', "none of them empty"),
        ('[ssh]\noptions = "-F x"\n', "ssh.options: must be an array of strings"),
        ("[ssh]\nconnect_timeout = 2.5\n", "a whole number of seconds"),
        ("[ssh]\ntimeout = 0\n", "from 1 to 86400"),
        ('[ssh]\nuser = "root"\n', "unknown key 'user'"),
    ],
)
def test_bad_hosts_and_ssh_are_refused(nodes: str, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + nodes)
    assert said in "\n".join(caught.value.lines())


def test_the_same_host_on_other_ports_is_two_nodes() -> None:
    text = BASE + '[[node]]\nhost = "lb1"\n[[node]]\nhost = "lb1"\nport = 2222\n'
    assert len(parse_config(text).nodes) == 2


def _without_places(config: Config) -> Config:
    """What a config says, without where it was read from."""
    balancers = tuple(
        replace(b, line=0, services=tuple(replace(s, line=0) for s in b.services))
        for b in config.balancers
    )
    return replace(config, balancers=balancers, path=None)


def test_a_host_nodes_config_is_sent_as_it_was_read() -> None:
    config = parse_config(FULL)
    mine = for_node(config, config.nodes[0])
    assert mine.balancers[0].netns is None and mine.balancers[0].interface == "ens1"
    sent = render(mine)
    assert "[[node]]" not in sent and "[ssh]" not in sent
    assert _without_places(parse_config(sent)) == _without_places(mine)


def test_ssh_argv_keeps_batchmode_and_quotes_the_remote_command() -> None:
    spec = SshSpec(("/opt/my l4lb/l4lb",), ("-o", "User=root"), "/etc/l4lb/ssh", 4)
    argv = ssh_argv(spec, "root@lb1", 2222, ["apply", "-f", "-"])
    assert argv[:4] == ["ssh", "-T", "-o", "BatchMode=yes"]
    assert argv[4:8] == ["-F", "/etc/l4lb/ssh", "-o", "User=root"]
    assert "ConnectTimeout=4" in argv and argv[-5:-3] == ["-p", "2222"]
    assert argv[-3:-1] == ["--", "root@lb1"]
    assert shlex.split(argv[-1]) == ["/opt/my l4lb/l4lb", "apply", "-f", "-"]
    assert "-p" not in ssh_argv(SshSpec(), "lb1", None, ["--version"])


def test_remote_answers_read_as_a_local_apply() -> None:
    ok = read_reply(
        Answer(1, "eth0: + service a\n", "Warning: Permanently added\nwarning: x LEFT OUT\n")
    )
    assert ok == type(ok)(["eth0: + service a"], ["x LEFT OUT"], "")
    failed = read_reply(Answer(2, "eth0: + a\n", "l4lb: error: no free slot; nothing more\n"))
    assert failed.lines == ["eth0: + a"] and failed.error == "no free slot; nothing more"
    crashed = read_reply(Answer(1, "", "Traceback\nKeyError: 'x'\n"), ok=(0,))
    assert crashed.error == "KeyError: 'x'"
    assert read_reply(Answer(137, "", "")).error == "exited with 137"


def test_a_remote_of_another_version_is_refused() -> None:
    assert version_problem(Answer(0, "l4lb 0.1.0\n", ""), "0.1.0") == ""
    other = version_problem(Answer(0, "l4lb 0.0.9\n", ""), "0.1.0")
    assert "runs l4lb 0.0.9, this is l4lb 0.1.0" in other
    missing = version_problem(Answer(127, "", "bash: line 1: l4lb: command not found\n"), "0.1.0")
    assert "command not found" in missing and "[ssh] command" in missing


def test_version_is_the_installed_one(capsys: pytest.CaptureFixture[str]) -> None:
    """What a remote's `l4lb --version` is compared with: the package's."""
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"l4lb {metadata.version('l4lb-tui')}\n"


@pytest.mark.parametrize(
    "host", ["lb1\n-oProxyCommand=x", "-lb1", "a@b@-c", "lb1\r", "[fd00::1]", "lb 1", "é.example"]
)
def test_a_hostile_host_is_refused_in_one_line(host: str) -> None:
    """Nothing ssh could take for an option, nor a message of two lines."""
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + f"[[node]]\nhost = {json.dumps(host)}\n")
    (said,) = caught.value.lines()
    assert "node[0].host" in said and "\n" not in said and "\r" not in said


def test_port_on_a_namespace_node_says_it_is_for_host_nodes() -> None:
    """v16 N4: it read as if 22 were out of range."""
    with pytest.raises(ConfigError) as said:
        parse_config(BASE + '[[node]]\nnetns = "z16n1"\nport = 22\n')
    assert "node[0].port: is only for a host node" in str(said.value)
    assert "from 1 to 65535" not in str(said.value)


def test_node_status_of_a_host_node_says_where_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """v16 N5: it said "no node HOST" of a node the config lists."""
    cfg = tmp_path / "l4lb.toml"
    cfg.write_text(BASE + '[[node]]\nhost = "127.0.0.1"\n')
    assert main(["node", "status", "127.0.0.1", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "127.0.0.1 is a host node of" in err and "no node" not in err, err
    assert len(err.strip().splitlines()) == 1


def test_diff_with_every_host_node_failing_prints_no_empty_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """v16 N2: ssh to a closed port of loopback fails at once."""
    cfg = tmp_path / "l4lb.toml"
    cfg.write_text(BASE + '[[node]]\nhost = "127.0.0.1"\nport = 1\n')
    assert main(["diff", "-f", str(cfg)]) == 2
    out, err = capsys.readouterr()
    assert out == "", repr(out)
    assert "could not reach 127.0.0.1" in err
