"""Inputs that slipped through as something the operator did not mean: an
empty protocol taken as both, a port with a leading zero, -s with white space
around it or naming a VIP or backend of the same load."""

from __future__ import annotations

import pytest

from l4lb_tui import validation
from l4lb_tui.services import parse_service
from tests.conftest import DATA
from tests.unit.test_cli_inputs import refused

D32 = str(DATA / "32_destinations.csv")


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("10.99.0.4:80/", "the protocol after '/' is empty"),
        ("10.99.0.4/", "the protocol after '/' is empty"),
        ("10.99.0.4:080/tcp", "write the port as 80, without leading zeros"),
        ("10.99.0.4:00/tcp", "write the port as 0"),
    ],
)
def test_service_specs_refused(spec: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse_service(spec)


def test_service_specs_taken() -> None:
    assert len(parse_service("10.99.0.4:80")) == 2
    assert parse_service("10.99.0.4:0/udp")[0].port == 0
    assert parse_service("10.99.0.4:*/tcp")[0].port == 0


def test_source_with_white_space() -> None:
    with pytest.raises(ValueError, match="white space"):
        validation.source_address(" 10.0.0.1")
    assert validation.source_address("10.0.0.1") == "10.0.0.1"


def test_cli_refuses_them() -> None:
    assert "protocol after '/' is empty" in refused("check", D32, "--vip", "10.99.0.4:80/")
    said = refused("map", "-i", "h12nodev", "-f", D32, "--vip", "10.99.0.4:80/tcp",
                   "-s", "10.99.0.4")  # fmt: skip
    assert "-s 10.99.0.4 is a VIP of this load" in said
    first = open(D32).readline().split(",")[0].strip()  # noqa: SIM115
    said = refused("map", "-i", "h12nodev", "-f", D32, "--vip", "10.99.0.4:80/tcp", "-s", first)
    assert f"-s {first} is a backend of this load" in said


@pytest.mark.parametrize(
    "path", ["/proc/self/status", "/sys/kernel/mm/transparent_hugepage/enabled"]
)
def test_a_kernel_file_is_refused_unread(path: str) -> None:
    """/proc/kmsg was read (and its messages taken) before being called "a
    file that changed while it was read"; /proc/self/status stands in."""
    assert "a kernel interface file (/proc, /sys)" in refused("check", path)


def test_a_rename_race_is_not_renamed_to_itself() -> None:
    """A link renamed away and back while detach looked for it was said to be
    'renamed to' its own name."""
    from l4lb_tui.locate import renamed

    assert "renamed to v0r (use -i v0r)" in renamed("v0", "v0r")
    said = renamed("v0", "v0")
    assert "renamed to v0" not in said and "run it again" in said


def test_an_unnamed_namespace_hint_names_a_pid() -> None:
    """The survey knows a process in each unnamed namespace it found: the
    nsenter hint names it rather than 'PID'."""
    from l4lb_tui.ghosts import rerun
    from l4lb_tui.identity import Netns

    said = rerun(Netns(5, pid=4321), "l4lb detach -i v0")
    assert "'nsenter --net=/proc/4321/ns/net l4lb detach -i v0'" in said
    assert Netns(5, pid=4321) == Netns(5)


def test_the_survey_notes_a_pid_of_an_unnamed_namespace() -> None:
    import os
    import subprocess
    import time

    from l4lb_tui.netlink import namespaces

    # A process in a namespace of its own, with no name under /run/netns.
    proc = subprocess.Popen(["unshare", "-n", "sleep", "30"])
    try:
        for _ in range(100):
            if os.readlink(f"/proc/{proc.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.05)
        found = [ns for ns, _ in namespaces.survey(lambda: None) if not ns.name and not ns.host]
        assert any(ns.pid == proc.pid for ns in found), found
    finally:
        proc.kill()
        proc.wait()
