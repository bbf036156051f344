"""Fixtures of the console tests; helpers live in tui_support.py."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from l4lb_tui.console_demo import FakeBackend
from tests.conftest import remove_pins_of


@pytest.fixture
def fake() -> FakeBackend:
    return FakeBackend.demo()


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], capture_output=True, text=True, check=check)  # noqa: S603


@pytest.fixture
def tui_netns() -> Iterator[tuple[str, str, str]]:
    """A throwaway namespace with a veth pair, both ends up: (netns, lb end, peer end).

    The lb end holds the VIP's subnet and one permanent neighbour entry, so the
    editor has a MAC to offer.  Names are unique: other runs on this host
    make namespaces and links too.
    """
    tag = uuid.uuid4().hex[:6]
    ns, dev, peer = f"tui{tag}", f"tui{tag}a", f"tui{tag}b"
    _ip("netns", "add", ns)
    try:
        _ip("-n", ns, "link", "add", dev, "type", "veth", "peer", "name", peer)
        _ip("-n", ns, "addr", "add", "10.0.0.4/24", "dev", dev)
        for link in (dev, peer):
            _ip("-n", ns, "link", "set", link, "up")
        _ip("-n", ns, "neigh", "add", "10.0.0.99", "lladdr", "02:00:00:00:00:99", "dev", dev,
            "nud", "permanent")  # fmt: skip
        yield ns, dev, peer
    finally:
        _ip("netns", "del", ns, check=False)
        remove_pins_of(ns)
