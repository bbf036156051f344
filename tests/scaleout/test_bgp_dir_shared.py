"""F20: a second daemon's speaker pointed at a [bgp] dir another speaker
runs in is refused in one line, before it writes anything there: it used
to rewrite the first's config and drive the first's BIRD through the
shared control socket."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from l4lb_tui.bgp import BirdError
from l4lb_tui.config_model import BgpSpec
from l4lb_tui.daemon.announce import Announcer
from tests.conftest import run

pytestmark = [pytest.mark.kernel, pytest.mark.scaleout]


@pytest.fixture
def node() -> Iterator[str]:
    ns = f"z16b{uuid.uuid4().hex[:6]}"
    run(["ip", "netns", "add", ns])
    try:
        run(["ip", "-n", ns, "link", "add", f"{ns}a", "type", "veth", "peer", "name", f"{ns}b"])
        run(["ip", "-n", ns, "addr", "add", "10.97.0.2/24", "dev", f"{ns}a"])
        run(["ip", "-n", ns, "link", "set", f"{ns}a", "up"])
        yield ns
    finally:
        run(["ip", "netns", "del", ns], check=False)


def _spec(ns: str, where: Path, source: str) -> BgpSpec:
    return BgpSpec(65001, "10.97.0.1", 65000, source, netns=ns, dir=str(where))


def test_a_second_speaker_in_one_bgp_dir_is_refused(node: str, tmp_path: Path) -> None:
    where = tmp_path / "bgp"
    said: list[str] = []
    first = Announcer(
        _spec(node, where, "10.97.0.2"), said.append, tmp_path / "d1", tmp_path / "s1"
    )
    first.start()
    try:
        conf = (where / "speaker.conf").read_text()
        second = Announcer(
            _spec(node, where, "10.97.0.3"), said.append, tmp_path / "d2", tmp_path / "s2"
        )
        with pytest.raises(BirdError) as refused:
            second.start()
        line = str(refused.value)
        assert "\n" not in line
        assert f"{where} is used by another speaker (PID {os.getpid()})" in line
        # The first's BIRD and its config are as they were.
        assert (where / "speaker.conf").read_text() == conf
        assert first.proc is not None and first.proc.poll() is None
        assert first.speaker.alive()
    finally:
        first.stop()
    # Its claim goes with it: a speaker may use the directory again.
    third = Announcer(
        _spec(node, where, "10.97.0.2"), said.append, tmp_path / "d3", tmp_path / "s3"
    )
    third.start()
    third.stop()
