"""The daemon's metrics with balancers in namespaces: a `netns` label keeps
two interfaces of one name apart, and a balancer that cannot be read (detached,
its namespace gone) is `l4lb_balancer_up 0`, never a failed scrape."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import remove_pins_of, run
from tests.dataplane.test_daemon import Running, free_port, l4lb
from tests.killed_reload import kill_group

pytestmark = pytest.mark.kernel
DEV = "h15bm0"


@pytest.fixture
def twins() -> Iterator[tuple[str, str]]:
    """Two namespaces, each with a link called DEV."""
    tag = uuid.uuid4().hex[:6]
    made = [f"h15bm{tag}{i}" for i in (1, 2)]
    try:
        for ns in made:
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "add", DEV, "type", "veth", "peer", "name", f"{DEV}p"])
        yield made[0], made[1]
    finally:
        for ns in made:
            l4lb("--netns", ns, "detach", "-i", DEV)
            run(["ip", "netns", "del", ns], check=False)
            remove_pins_of(ns)


def series(text: str) -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
    return Counter(
        (s.name, tuple(sorted(s.labels.items())))
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    )


def up(text: str) -> dict[str, float]:
    return {
        s.labels["netns"]: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "l4lb_balancer_up"
    }


def test_namespaces_are_labelled_and_an_unreadable_balancer_is_a_gauge(
    twins: tuple[str, str], tmp_path: Path
) -> None:
    one, two = twins
    port = free_port()
    cfg = tmp_path / "l4lb.toml"
    cfg.write_text(
        "".join(
            f'[[balancer]]\ninterface = "{DEV}"\nnetns = "{ns}"\n[[balancer.service]]\n'
            'vip = "10.0.0.4:9000/udp"\nbackends = [{ ip = "10.2.0.11", mac = "02:00:00:00:00:0b" }]\n'
            for ns in twins
        )
        + f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
    )
    daemon = Running(cfg, port)
    try:
        text = daemon.scrape()
        counted = series(text)
        assert counted and max(counted.values()) == 1, [k for k, n in counted.items() if n > 1]
        assert up(text) == {one: 1, two: 1}
        weights = [k for k in counted if k[0] == "l4lb_backend_weight"]
        assert {dict(labels)["netns"] for _, labels in weights} == {one, two}

        assert l4lb("--netns", two, "detach", "-i", DEV).returncode == 0
        assert up(daemon.scrape()) == {one: 1, two: 0}
        run(["ip", "netns", "del", one])
        text = daemon.scrape()  # a namespace gone: still a 200
        assert up(text) == {one: 0, two: 0}
        assert "l4lb_backend_weight{" not in text
    finally:
        kill_group(daemon.proc)


def test_the_probe_latency_of_two_namespaces_is_two_series(
    twins: tuple[str, str], tmp_path: Path
) -> None:
    port = free_port()
    cfg = tmp_path / "fxd-two.toml"
    cfg.write_text(
        "".join(
            f'[[balancer]]\ninterface = "{DEV}"\nnetns = "{ns}"\nmode = "generic"\n'
            '[[balancer.service]]\nvip = "10.0.0.4:9000/tcp"\n'
            'backends = [{ ip = "10.2.0.11", mac = "02:00:00:00:00:0b" }]\n'
            '[balancer.service.health]\ncheck = "tcp"\ntarget = "address"\n'
            "interval = 0.3\ntimeout = 0.2\n"
            for ns in twins
        )
        + f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
    )
    daemon = Running(cfg, port)
    try:
        deadline = time.monotonic() + 20
        seen: set[str] = set()
        while time.monotonic() < deadline and seen != set(twins):
            seen = {
                s.labels.get("netns", "")
                for fam in text_string_to_metric_families(daemon.scrape())
                for s in fam.samples
                if s.name == "l4lb_health_check_duration_seconds_count"
            }
            time.sleep(0.2)
        assert seen == set(twins)
    finally:
        kill_group(daemon.proc)
