"""`l4lb export` with hostile and changed names: every string is quoted as
TOML, and a balancer is found by its identity, so a renamed link (or two
that swapped names) is exported under its current name, never skipped."""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import remove_pins_of, run
from tests.dataplane.test_config_apply import l4lb

pytestmark = pytest.mark.kernel


@pytest.fixture
def netns() -> Iterator[str]:
    ns = f"fxd{uuid.uuid4().hex[:8]}"
    run(["ip", "netns", "add", ns])
    try:
        yield ns
    finally:
        run(["ip", "netns", "del", ns], check=False)
        remove_pins_of(ns)


def _veth(ns: str, name: str, peer: str) -> None:
    run(["ip", "-n", ns, "link", "add", name, "type", "veth", "peer", "name", peer])


def _apply(ns: str, tmp_path: Path, links: dict[str, str]) -> None:
    """Each link (a TOML literal string, so any name but one with a quote)
    with one service at its VIP."""
    cfg = tmp_path / "fxd-names.toml"
    cfg.write_text(
        "".join(
            f"[[balancer]]\ninterface = '{dev}'\nnetns = '{ns}'\nmode = \"generic\"\n"
            f'source = "10.0.0.1"\n[[balancer.service]]\nvip = "{vip}:80/tcp"\n'
            'backends = [{ ip = "10.99.0.11", mac = "02:00:00:00:00:0b" }]\n'
            for dev, vip in links.items()
        )
    )
    res = l4lb("apply", "-f", str(cfg))
    assert res.returncode == 0, res.stderr


def _exported(tmp_path: Path) -> dict[str, str]:
    """interface -> its service's VIP, from an export that `check` accepts."""
    out = tmp_path / "fxd-exported.toml"
    res = l4lb("export", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert l4lb("check", str(out)).returncode == 0, out.read_text()
    text = out.read_text()
    assert "# skipped" not in text, text
    return {
        b["interface"]: b["service"][0]["vip"].split(":")[0]
        for b in tomllib.loads(text)["balancer"]
    }


def test_a_name_with_a_quote_and_a_backslash_is_quoted(netns: str, tmp_path: Path) -> None:
    name = 'fx"q\\#'
    _veth(netns, name, "fxdpeer")
    cfg = tmp_path / "fxd-names.toml"
    cfg.write_text(
        f'[[balancer]]\ninterface = "fx\\"q\\\\#"\nnetns = "{netns}"\nmode = "generic"\n'
        'source = "10.0.0.1"\n[[balancer.service]]\nvip = "10.99.0.4:80/tcp"\n'
        'backends = [{ ip = "10.99.0.11", mac = "02:00:00:00:00:0b" }]\n'
    )
    res = l4lb("apply", "-f", str(cfg))
    assert res.returncode == 0, res.stderr
    assert _exported(tmp_path) == {name: "10.99.0.4"}


def test_renamed_and_swapped_links_are_exported_by_their_names_now(
    netns: str, tmp_path: Path
) -> None:
    _veth(netns, "fxdA", "fxdB")
    _apply(netns, tmp_path, {"fxdA": "10.99.1.1", "fxdB": "10.99.2.2"})
    run(["ip", "-n", netns, "link", "set", "fxdA", "name", "fxdQ"])
    assert _exported(tmp_path) == {"fxdQ": "10.99.1.1", "fxdB": "10.99.2.2"}
    # Swap: Q -> T, B -> A, T -> B.
    for old, new in (("fxdQ", "fxdT"), ("fxdB", "fxdA"), ("fxdT", "fxdB")):
        run(["ip", "-n", netns, "link", "set", old, "name", new])
    assert _exported(tmp_path) == {"fxdB": "10.99.1.1", "fxdA": "10.99.2.2"}


def test_a_namespace_with_a_space_works_from_a_config(tmp_path: Path) -> None:
    ns = f"fxd {uuid.uuid4().hex[:6]}"
    run(["ip", "netns", "add", ns])
    try:
        _veth(ns, "fxdS", "fxdSp")
        _apply(ns, tmp_path, {"fxdS": "10.99.3.3"})
        cfg = tmp_path / "fxd-names.toml"
        res = l4lb("diff", "-f", str(cfg), "--exit-code")
        assert res.returncode == 0, res.stdout + res.stderr
        assert _exported(tmp_path) == {"fxdS": "10.99.3.3"}
    finally:
        run(["ip", "netns", "del", ns], check=False)
        remove_pins_of(ns)
