"""Command building and error handling of the bpftool adapter (no kernel)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from l4lb_tui.bpftool import BpfError, Bpftool
from l4lb_tui.identity import legacy_dirname, legacy_ifname


class Recorder:
    def __init__(self, stdout: str = "", returncode: int = 0, stderr: str = "") -> None:
        self.calls: list[dict[str, Any]] = []
        self.result = (stdout, returncode, stderr)

    def __call__(self, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        if isinstance(kw.get("stdin"), int):  # input handed over in memory
            kw["input"] = os.pread(kw["stdin"], 1 << 24, 0).decode()
        self.calls.append({"argv": argv, **kw})
        out, rc, err = self.result
        return subprocess.CompletedProcess(argv, rc, out, err)


def test_argv_lists_json_and_no_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(stdout="[]")
    monkeypatch.setattr(subprocess, "run", rec)
    Bpftool().net_attach("driver", Path("/sys/fs/bpf/l4lb/eth1/prog"), "eth1")
    call = rec.calls[0]
    assert call["argv"] == [
        "bpftool",
        "-j",
        "net",
        "attach",
        "xdpdrv",
        "pinned",
        "/sys/fs/bpf/l4lb/eth1/prog",
        "dev",
        "eth1",
    ]
    assert "shell" not in call


def test_any_name_the_kernel_takes_is_one_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    """'-x' is a name, not an option: getopt stops at bpftool's first word."""
    rec = Recorder(stdout="[]")
    monkeypatch.setattr(subprocess, "run", rec)
    for name in ("-x", "tuv+r", "xé"):
        Bpftool(netns="lab").net_detach("driver", name)
        assert rec.calls[-1]["argv"][-2:] == ["dev", name]
        assert rec.calls[-1]["env"]["POSIXLY_CORRECT"] == "1"
    with pytest.raises(BpfError, match="is not a valid interface name"):
        Bpftool().net_detach("driver", "a b")


def test_netns_uses_nsenter_not_ip_netns_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(stdout="[]")
    monkeypatch.setattr(subprocess, "run", rec)
    Bpftool(netns="lab-lb").net_detach("driver", "lab-lb0")
    assert rec.calls[0]["argv"][:3] == ["nsenter", "--net=/run/netns/lab-lb", "bpftool"]


def test_batch_is_one_process_on_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(stdout="[]")
    monkeypatch.setattr(subprocess, "run", rec)
    pin = Path("/sys/fs/bpf/l4lb/eth1/maps/vips")
    cmds = [Bpftool.update_cmd(pin, bytes([10, 0, 0, i]), b"\x01\0\0\0") for i in range(100)]
    assert Bpftool().batch(cmds) == 100
    assert len(rec.calls) == 1
    assert rec.calls[0]["argv"] == ["bpftool", "batch", "file", "-"]  # no JSON echo
    lines = rec.calls[0]["input"].splitlines()
    assert lines[1] == f"map update pinned {pin} key hex 0a 00 00 01 value hex 01 00 00 00"


def test_error_carries_bpftools_message(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(
        stdout='{"error":"interface xdpoffload attach failed: Invalid argument"}',
        returncode=255,
        stderr="libbpf: Kernel error message: foo\n",
    )
    monkeypatch.setattr(subprocess, "run", rec)
    with pytest.raises(BpfError) as err:
        Bpftool().net_detach("offload", "eth1")
    assert "Invalid argument" in err.value.message
    assert err.value.argv[:2] == ["bpftool", "-j"]
    assert "command: bpftool -j net detach" in str(err.value)


def test_batch_error_is_bpftools_stderr_line(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(returncode=249, stderr="Error: update failed: Argument list too long\n")
    monkeypatch.setattr(subprocess, "run", rec)
    pin = Path("/sys/fs/bpf/l4lb/eth1/maps/vips")
    with pytest.raises(BpfError) as err:
        Bpftool().batch([Bpftool.update_cmd(pin, b"\x09\0\0\0", b"\x01\0\0\0")])
    assert err.value.message == "update failed: Argument list too long"


def test_missing_bpftool() -> None:
    with pytest.raises(BpfError, match="not found: install it"):
        Bpftool(binary="/nonexistent/bpftool").prog_show_pinned(Path("/sys/fs/bpf/l4lb/x/prog"))


def test_unsafe_tokens_refused() -> None:
    with pytest.raises(BpfError, match="unsafe"):
        Bpftool().batch([["map", "update", "pinned", "/tmp/x y"]])
    with pytest.raises(BpfError, match="is not a valid interface name"):
        Bpftool().net_detach("driver", "eth0; reboot")


def test_legacy_pin_dir_avoids_dots() -> None:
    assert legacy_dirname("eth0.100") == "eth0~100"
    assert legacy_ifname("eth0~100") == "eth0.100"
    with pytest.raises(BpfError, match="not under"):
        Bpftool.unpin_tree(Path("/etc"))


def test_any_namespace_name_ip_netns_accepts_is_one_nsenter_argument() -> None:
    for name in ("fxd x", "fxd\"q'\\", "fxd#1"):
        argv = Bpftool(netns=name)._argv(["prog", "show"])
        assert argv[:2] == ["nsenter", f"--net=/run/netns/{name}"]
    with pytest.raises(BpfError, match="not a valid network namespace name"):
        Bpftool(netns="../etc")._argv(["prog"])
