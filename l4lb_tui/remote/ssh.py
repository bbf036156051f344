"""The SSH adapter: one command of a remote l4lb, run through the system's
`ssh` client, as ansible and pdsh do (no agent on the node).  Every way of
not getting the command's answer is an SshError; an answer, whatever its
exit status, is the caller's to read.

The argv is a list (never a shell on this side); the remote command is one
string, which ssh hands to the remote user's shell, so it is quoted with
shlex.join.  BatchMode: never a password or passphrase prompt, which would
hang a rollout; the keys and host keys are the operator's ssh config's.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from l4lb_tui.config_model import SshSpec

SSH = "ssh"
# ssh's own failure (could not connect, authenticate, ...); a remote
# command's status is passed through, and l4lb never exits 255.
UNREACHABLE = 255
# A dead connection is noticed within interval x count seconds.
ALIVE_INTERVAL = 5
ALIVE_COUNT = 3
Said = Callable[[str], None]


class SshError(Exception):
    """The remote command gave no answer: ssh could not reach the host, it
    did not finish in time, or there is no ssh here."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    stdout: str
    stderr: str


def ssh_argv(spec: SshSpec, host: str, port: int | None, remote: Sequence[str]) -> list[str]:
    """The ssh command line that runs `spec.command` + `remote` on `host`.
    BatchMode comes first: ssh takes each option's first value, so no
    config can turn it off.  The operator's -F and options come before the
    timeouts, so theirs win there."""
    argv = [SSH, "-T", "-o", "BatchMode=yes"]
    if spec.config:
        argv += ["-F", spec.config]
    argv += list(spec.options)
    argv += ["-o", f"ConnectTimeout={spec.connect_timeout}"]
    argv += ["-o", f"ServerAliveInterval={ALIVE_INTERVAL}"]
    argv += ["-o", f"ServerAliveCountMax={ALIVE_COUNT}"]
    if port is not None:
        argv += ["-p", str(port)]
    return [*argv, "--", host, shlex.join([*spec.command, *remote])]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _pump(stream: IO[str], lines: list[str], each: Said | None) -> None:
    for line in stream:
        lines.append(line)
        if each is not None:
            each(line.rstrip("\n"))


def _feed(stream: IO[str], text: str) -> None:
    # A remote that exits without reading all of it (refused at once) is
    # not this side's failure: its answer says why.
    with contextlib.suppress(BrokenPipeError, OSError):
        stream.write(text)
        stream.close()


def call(
    spec: SshSpec,
    host: str,
    port: int | None,
    remote: Sequence[str],
    stdin: str = "",
    timeout: float | None = None,
    out: Said | None = None,
    err: Said | None = None,
) -> Answer:
    """Run `remote` (after spec.command) on `host`, `stdin` its input;
    each line of its output given to `out` (stderr: `err`) as it comes;
    stopped after `timeout` seconds (default: the spec's)."""
    argv = ssh_argv(spec, host, port, remote)
    limit = spec.timeout if timeout is None else timeout
    try:
        proc = subprocess.Popen(  # noqa: S603 - an argv list, no shell here
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except FileNotFoundError:
        raise SshError(f"{SSH} is not installed here (apt-get install openssh-client)") from None
    assert proc.stdin and proc.stdout and proc.stderr  # all three are pipes
    said: tuple[list[str], list[str]] = ([], [])
    workers = [
        threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True),
        threading.Thread(target=_pump, args=(proc.stdout, said[0], out), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, said[1], err), daemon=True),
    ]
    for w in workers:
        w.start()
    try:
        status = proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise SshError(
            f"{host}: no answer after {limit:g} s (ssh stopped; whatever the node did "
            "meanwhile, 'l4lb diff' shows)"
        ) from None
    finally:
        for w in workers:
            w.join(timeout=5.0)
    stdout, stderr = "".join(said[0]), "".join(said[1])
    if status == UNREACHABLE:
        raise SshError(f"could not reach {host}: {_last_line(stderr) or f'{SSH} exited with 255'}")
    return Answer(status, stdout, stderr)
