"""Which nodes a config's [[node]] list names (with each daemon's run_dir),
merged with the labs' (pure), and the one-line refusals of `l4lb node ...
NODE` and `l4lb tui -c FILE` before anything is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from l4lb_tui.config_file import ConfigError, parse_config
from l4lb_tui.node_find import NodeNotFound, NodeSpec, config_specs, find, merged

BASE = (
    '[[balancer]]\ninterface = "eth0"\n[[balancer.service]]\nvip = "10.0.0.4:80/tcp"\n'
    'backends = [ { ip = "10.0.0.11", mac = "02:00:00:00:00:11" } ]\n'
    '[[balancer]]\ninterface = "eth1"\n'
)
NODES = '[[node]]\nnetns = "f16u-b"\nrun_dir = "/run/l4lb/b"\n[[node]]\nnetns = "f16u-a"\n'


def test_config_nodes_with_their_run_dirs() -> None:
    specs = config_specs(parse_config(BASE + NODES))
    assert [(s.name, s.ifnames, s.run_dir) for s in specs] == [
        ("f16u-b", ("eth0", "eth1"), Path("/run/l4lb/b")),
        ("f16u-a", ("eth0", "eth1"), None),
    ]


def test_a_relative_run_dir_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + '[[node]]\nnetns = "a"\nrun_dir = "run/a"\n')
    assert "node[0].run_dir" in caught.value.lines()[0]
    assert "not an absolute directory path" in caught.value.lines()[0]


def test_merged_keeps_the_configs_order_and_fills_run_dirs_from_labs() -> None:
    listed = config_specs(parse_config(BASE + NODES))
    labs = [
        NodeSpec("f16u-a", "f16u-a", ("f16u-a0",), Path("/lab/a")),
        NodeSpec("f16u-z", "f16u-z", ("f16u-z0",), Path("/lab/z")),
    ]
    out = merged(listed, labs)
    assert [(s.name, s.run_dir) for s in out] == [
        ("f16u-b", Path("/run/l4lb/b")),
        ("f16u-a", Path("/lab/a")),
        ("f16u-z", Path("/lab/z")),
    ]
    assert out[1].ifnames == ("eth0", "eth1")  # the config says what runs there


def test_find_says_what_is_wrong() -> None:
    specs = config_specs(parse_config(BASE + NODES))
    assert find(specs, "f16u-b").run_dir == Path("/run/l4lb/b")
    with pytest.raises(NodeNotFound, match=r"^no node x \(nodes known here: f16u-b, f16u-a\)$"):
        find(specs, "x")
    with pytest.raises(NodeNotFound, match="gives no run_dir"):
        find(specs, "f16u-a")


def _l4lb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "l4lb_tui.cli", *args],
        capture_output=True, text=True, check=False, env=env, timeout=60,
    )  # fmt: skip


def test_node_commands_refuse_in_one_line(tmp_path: Path) -> None:
    conf = tmp_path / "nodes.toml"
    conf.write_text(BASE + NODES)
    env = {**os.environ, "L4LB_RUN_DIR": str(tmp_path / "run")}
    cases = [
        (("status", "f16u-q", "-c", str(conf)), "no node f16u-q (nodes known here: f16u-b, f16u-a"),
        (("drain", "f16u-a", "-c", str(conf)), "node f16u-a: its [[node]] in "),
        (
            ("drain", "f16u-b", "-c", str(conf)),
            "node f16u-b: no l4lb daemon runs in /run/l4lb/b (start one with",
        ),
        (("undrain", "-c", str(conf)), "-c names the config a NODE is looked up in"),
        (("status", "f16u-b", "-c", str(tmp_path / "none.toml")), f"{tmp_path}/none.toml: no such"),
    ]
    for args, said in cases:
        done = _l4lb("node", *args, env=env)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.startswith(f"l4lb: error: {said}"), (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
    assert not (tmp_path / "run").exists()


def test_tui_refuses_a_config_it_cannot_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BASE + '[[node]]\nnetns = "a"\nrun_dir = "x"\n')
    done = _l4lb("tui", "-c", str(bad))
    assert done.returncode == 2
    assert done.stderr.startswith(f"l4lb: error: {bad}: "), done.stderr
    assert "run_dir" in done.stderr and len(done.stderr.strip().splitlines()) == 1
