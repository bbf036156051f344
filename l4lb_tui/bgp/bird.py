"""The BIRD 2 adapter: a `bird` speaker in a network namespace, driven
through its control socket with `birdc`.  Every failure is a BirdError.

A speaker is a directory and a name: `<dir>/<name>.conf` (written whole, by
a rename), `<name>.ctl` (the control socket), `<name>.pid` and `<name>.log`.
birdc reaches the socket from any namespace, so only `bird` itself is
started inside one (`ip netns exec`).  Argument lists only, never a shell.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from l4lb_tui import procfs, runfile
from l4lb_tui.bgp import birdshow
from l4lb_tui.bgp.birdshow import Protocol, Route

BIRD = "bird"
BIRDC = "birdc"
READY_TIMEOUT = 10.0
# A unix socket path holds at most 107 bytes.
_SUN_PATH_MAX = 107


class BirdError(Exception):
    """bird or birdc failed; the message is the tool's own words.  `timed_out`:
    it did not answer at all (a hung speaker), not an answer of failure."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def _run(argv: Sequence[str], timeout: float = 10.0) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise BirdError(f"{argv[0]} is not installed (apt-get install bird2): {exc}") from None
    except subprocess.TimeoutExpired:
        raise BirdError(f"{' '.join(argv[:4])}: no answer after {timeout:g} s", True) from None
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise BirdError(said[-1] if said else f"{argv[0]} exited with {done.returncode}")
    return done.stdout


@dataclass(frozen=True, slots=True)
class Speaker:
    dir: Path
    name: str
    netns: str | None = None

    @property
    def conf(self) -> Path:
        return self.dir / f"{self.name}.conf"

    @property
    def sock(self) -> Path:
        return self.dir / f"{self.name}.ctl"

    @property
    def pidfile(self) -> Path:
        return self.dir / f"{self.name}.pid"

    @property
    def log(self) -> Path:
        return self.dir / f"{self.name}.log"

    def _bird_argv(self, foreground: bool) -> list[str]:
        argv = [BIRD, "-c", str(self.conf), "-s", str(self.sock), "-P", str(self.pidfile)]
        if foreground:
            argv.append("-f")
        return ["ip", "netns", "exec", self.netns, *argv] if self.netns else argv

    def make_dir(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BirdError(
                f"cannot make the speaker's directory {self.dir}: {exc.strerror}"
            ) from None

    def hold(self) -> int:
        """Claim the directory for this process's speaker (an flock on
        `<name>.lock`, kept while the returned descriptor is open): two
        speakers in one directory would share its config and control socket,
        the second driving the first's BIRD."""
        self.make_dir()
        path = self.dir / f"{self.name}.lock"
        try:
            return runfile.hold(path, f"{os.getpid()}\n")
        except runfile.Held as held:
            pid = held.holder.strip()
            raise BirdError(
                f"{self.dir} is used by another speaker (PID {pid if pid.isdigit() else '?'}): "
                "give each daemon a [bgp] dir of its own"
            ) from None
        except OSError as exc:
            raise BirdError(f"cannot lock {path}: {exc.strerror}") from None
        except runfile.NotRegular as exc:
            raise BirdError(
                f"cannot lock {path}: it is {exc.why}, which l4lb never makes"
            ) from None

    def write(self, text: str) -> None:
        if len(os.fsencode(self.sock)) > _SUN_PATH_MAX:
            raise BirdError(f"control socket path too long for a unix socket: {self.sock}")
        self.make_dir()
        tmp = self.conf.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.conf)

    def start(self, text: str) -> None:
        """Start bird in the background (it outlives this process)."""
        self.write(text)
        _run(self._bird_argv(foreground=False))
        self.wait_ready()

    @property
    def errors(self) -> Path:
        """A child bird's stderr (a pipe nobody reads could block it)."""
        return self.dir / f"{self.name}.err"

    def start_child(self, text: str) -> subprocess.Popen[bytes]:
        """Start bird as this process's child, terminated when it dies."""
        self.write(text)
        try:
            with self.errors.open("wb") as err:
                proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    self._bird_argv(foreground=True),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    preexec_fn=procfs.dies_with_parent(signal.SIGTERM),
                )
        except (FileNotFoundError, PermissionError) as exc:
            raise BirdError(f"cannot start bird: {exc}") from None
        try:
            self.wait_ready(proc)
        except BirdError as exc:
            proc.kill()
            proc.wait()
            said = self.errors.read_text(errors="replace").strip()
            raise BirdError(said.splitlines()[-1] if said else str(exc)) from None
        return proc

    def wait_ready(self, proc: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if proc is not None and proc.poll() is not None:
                raise BirdError(f"bird exited with {proc.returncode}")
            try:
                self.birdc("show", "status")
                return
            except BirdError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def birdc(self, *command: str, timeout: float = 10.0) -> str:
        out = _run([BIRDC, "-s", str(self.sock), *command], timeout)
        # birdc exits 0 on a refused command; its error lines carry a code.
        for line in out.splitlines():
            if line.startswith(("syntax error", "Unknown command", "No protocols match")):
                raise BirdError(f"birdc {' '.join(command)}: {line}")
        return out

    def configure(self, text: str) -> None:
        """Write the config and make bird take it (soft: sessions stay up)."""
        self.write(text)
        out = self.birdc("configure")
        if "Reconfigured" not in out and "Reconfiguration in progress" not in out:
            if "Reconfiguration already in progress" in out or "queued" in out:
                return
            lines = [line for line in out.splitlines() if line.strip()]
            raise BirdError(f"bird refused {self.conf}: {lines[-1] if lines else out!r}")

    def protocols(self, timeout: float = 10.0) -> list[Protocol]:
        return birdshow.protocols(self.birdc("show", "protocols", timeout=timeout))

    def routes(self, export: str | None = None) -> list[Route]:
        """Every route of bird's table, or those exported to protocol `export`."""
        args = ("show", "route", "export", export) if export else ("show", "route")
        return birdshow.routes(self.birdc(*args))

    def alive(self) -> bool:
        try:
            self.birdc("show", "status")
        except BirdError:
            return False
        return True

    def stop(self) -> None:
        """Stop a background bird (by its pid file); nothing if none runs."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
