"""Running the command-line tools the lab needs, inside a namespace or not.

Only for what pyroute2 cannot do (ethtool features, loading XDP objects,
bpftool, processes inside a namespace).  Argument lists only, never a shell.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from l4lb_tui import procfs
from l4lb_tui.lab.errors import LabError

# The directory holding the `l4lb_tui` package: children started with
# `python -m l4lb_tui.lab...` must import this very tree, wherever the
# operator's current directory is.
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def in_ns(ns: str, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = f"{_PACKAGE_ROOT}{os.pathsep}{path}" if path else str(_PACKAGE_ROOT)
    return env


def _last_lines(text: str, count: int = 2) -> str:
    """libbpf ends with a generic "failed to load object"; the line before
    usually says why, so the tail is kept, on one line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines[-count:])


def tool_message(argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> str:
    """The tool's own last words on a failure, or its exit status if it said nothing."""
    said = _last_lines(stderr) or _last_lines(stdout)
    return said or f"{' '.join(argv)} exited with status {returncode}"


# What `ip netns exec` itself says when it cannot run the command at all.
_NETNS_EXEC_FAILURES = ("Cannot open network namespace", "exec of ")


def tool_name(argv: Sequence[str], message: str = "") -> str:
    """`ip netns exec NS ethtool ...` failed because of ethtool, unless ip
    could not even enter NS or start it."""
    if list(argv[:3]) == ["ip", "netns", "exec"] and len(argv) > 4:
        if message.startswith(_NETNS_EXEC_FAILURES):
            return "ip"
        argv = argv[4:]
    name = Path(argv[0]).name
    return argv[2] if name.startswith("python") and len(argv) > 2 and argv[1] == "-m" else name


def run_tool(
    argv: Sequence[str],
    *,
    timeout: float = 30.0,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    bounded: bool = False,
    meanwhile: Callable[[], None] = lambda: None,
) -> subprocess.CompletedProcess[str]:
    """Run to completion; LabError with the tool's message if it fails.
    `bounded`: the tool dies with this process (see procfs.dies_with_parent).
    `meanwhile` is called while it runs: what it raises stops the tool."""
    try:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv built by the lab, no shell
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=None if env is None else dict(env),
            preexec_fn=procfs.dies_with_parent() if bounded else None,
        )
    except FileNotFoundError as exc:
        raise LabError(f"not installed ({exc.strerror})", tool=tool_name(argv)) from exc
    with proc:
        try:
            out, err = _communicate(proc, timeout, meanwhile)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            raise LabError(f"no answer after {timeout:g} s", tool=tool_name(argv)) from exc
        except BaseException:
            proc.kill()
            raise
    if check and proc.returncode != 0:
        message = tool_message(argv, proc.returncode, out, err)
        raise LabError(message, tool=tool_name(argv, message))
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def _communicate(
    proc: subprocess.Popen[str], timeout: float, meanwhile: Callable[[], None]
) -> tuple[str, str]:
    """proc's output once it ends, within `timeout`, calling `meanwhile`
    every fifth of a second."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            out, err = proc.communicate(timeout=max(0.0, min(0.2, left)))
        except subprocess.TimeoutExpired:
            if left <= 0.2:
                raise
            meanwhile()
            continue
        return out, err


def run_in(
    ns: str,
    argv: Sequence[str],
    *,
    timeout: float = 30.0,
    check: bool = True,
    bounded: bool = False,
    meanwhile: Callable[[], None] = lambda: None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` inside network namespace `ns`, with this tree importable."""
    return run_tool(
        in_ns(ns, argv),
        timeout=timeout,
        check=check,
        env=child_env(),
        bounded=bounded,
        meanwhile=meanwhile,
    )


def spawn_in(ns: str, argv: Sequence[str], *, bounded: bool = False) -> subprocess.Popen[str]:
    """Start `argv` inside `ns` without waiting; output is piped back.

    A session of its own, so a Ctrl-C meant for the operator's shell does not
    reach it before the caller has had the chance to stop it cleanly.
    `bounded`: it dies with this process (see procfs.dies_with_parent).
    """
    full = in_ns(ns, argv)
    try:
        return subprocess.Popen(  # noqa: S603 - fixed argv built by the lab, no shell
            full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
            start_new_session=True,
            preexec_fn=procfs.dies_with_parent() if bounded else None,
        )
    except FileNotFoundError as exc:
        raise LabError(f"not installed ({exc.strerror})", tool=tool_name(full)) from exc
