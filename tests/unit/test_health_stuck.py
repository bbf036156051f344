"""A health verdict that cannot be carried out, whatever the error (the
link gone, out of descriptors), is said once and retried: it never stops
the daemon (no kernel: the balancer lookup is made to fail)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from l4lb_tui.config_file import parse_config
from l4lb_tui.daemon import follow
from l4lb_tui.daemon.health import HealthControl, _Checked

CONFIG = """\
[[balancer]]
interface = "fxd0"
[[balancer.service]]
vip = "10.0.0.4:80/tcp"
backends = [{ ip = "10.0.0.11", mac = "02:00:00:00:00:0b" }]
[balancer.service.health]
check = "tcp"
"""


def test_any_error_of_a_verdict_is_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bal = parse_config(CONFIG).balancers[0]
    spec = bal.services[0]
    said: list[str] = []
    hc = HealthControl(said.append, lambda _r: None, removed_path=tmp_path / "removed.json")
    hc.checked["svc"] = _Checked("svc", bal, spec, spec.keys[0], {})

    def lookup(*_args: object) -> object:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(follow, "balancer", lookup)
    monkeypatch.setattr("l4lb_tui.config_apply.balancer_of", lookup)
    hc._carry_out("svc")
    hc._carry_out("svc")
    assert said == [
        "svc: could not carry out the health verdict (tried again every 2 s): "
        "OSError: [Errno 24] Too many open files"
    ]
