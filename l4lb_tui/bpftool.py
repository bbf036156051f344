"""The bpftool adapter: the one place in the product that runs bpftool.

Every call is an argv list with JSON output (`-j`).  Bulk map writes go through
one `bpftool batch file -` process (plain output: see batch).  A failed call
raises BpfError carrying bpftool's own message and the command that failed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from l4lb_tui import procfs, validation
from l4lb_tui.identity import STAGING_NAME
from l4lb_tui.netlink import namespaces
from l4lb_tui.paths import BPFFS as BPFFS
from l4lb_tui.paths import PIN_ROOT

# Beside the balancers' directories, never taken for one (identity.py).
STAGING_ROOT = PIN_ROOT / STAGING_NAME
# Tokens written into a batch file are split on white space by bpftool, so
# nothing that goes there may contain any, nor quotes.
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_./:@+~-]+$")
XDP_MODES = {"driver": "xdpdrv", "generic": "xdpgeneric", "offload": "xdpoffload"}
# glibc's getopt, as bpftool and nsenter use it, would take any later word
# that starts with '-' for an option (an interface named '-x'); both take
# their options first, so stopping at the first other word loses nothing.
_POSIX_GETOPT = {"POSIXLY_CORRECT": "1"}


class BpfError(Exception):
    """bpftool failed.  `message` is bpftool's own words; `argv` the command."""

    def __init__(self, message: str, argv: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.argv = list(argv)

    def __str__(self) -> str:
        if not self.argv:
            return self.message
        shown = " ".join(self.argv[:6]) + (" ..." if len(self.argv) > 6 else "")
        return f"{self.message} (command: {shown})"


def _hex(data: bytes) -> list[str]:
    return ["hex", *(f"{b:02x}" for b in data)]


def _unpin(path: Path) -> None:
    # A pin is unlinked like a file, and a directory removed once empty, so
    # a tree goes bottom-up: the object lives on while anything holds it.
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            _unpin(child)
        path.rmdir()
    else:
        path.unlink(missing_ok=True)


def _run_mount(argv: list[str]) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:
        raise BpfError(f"{argv[0]} not found: cannot mount bpffs", argv) from None
    if proc.returncode != 0:
        why = proc.stderr.strip() or "mount failed"
        raise BpfError(f"cannot mount bpffs at {BPFFS}: {why} (are you root?)", argv)


def _safe(token: str) -> str:
    if not _SAFE_TOKEN.fullmatch(token):
        raise BpfError(f"refusing unsafe bpftool argument {token!r}")
    return token


def _dev(ifname: str) -> str:
    """An interface name as a command-line argument of its own (never a
    batch line): any name the kernel allows (validation.ifname), since
    bpftool's getopt stops at its first word that is not an option (see
    _POSIX_GETOPT), so a name such as '-x' is not taken for one."""
    try:
        return validation.ifname(ifname)
    except ValueError as exc:
        raise BpfError(str(exc)) from None


def _netns(name: str) -> str:
    """A namespace name in nsenter's one argument: any name `ip netns add`
    (and --netns) accepts, spaces and quotes too, since no shell or batch
    file splits it; only what would leave /run/netns is refused."""
    try:
        return validation.netns_name(name)
    except ValueError as exc:
        raise BpfError(str(exc)) from None


@functools.lru_cache(maxsize=256)
def _pin_token(pin: str) -> str:
    # Checked once per map: a reload writes thousands of lines to a few pins.
    # Keyed by the text: hashing and comparing Paths cost more than the check.
    return _safe(pin)


def _map_ref(pin: Path | int) -> str:
    # An id costs bpftool a lookup by number per line; a pin, a walk of the
    # bpffs path (4096 lines of a reload: ~25 ms of kernel time).
    return f"id {pin:d}" if isinstance(pin, int) else f"pinned {_pin_token(str(pin))}"


@contextlib.contextmanager
def _finish_first() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done, then take effect: a
    reload interrupted by Ctrl-C or a stop request is finished first.  (A
    SIGKILL cannot wait; a reload is built to survive that too.)  Only the
    main thread can hold signals back; elsewhere the block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def later(signum: int, _frame: object) -> None:
        if not caught:
            print("l4lb: finishing the reload before stopping", file=sys.stderr)
        caught.append(signum)

    held = {sig: signal.signal(sig, later) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])


def _in_memory(text: str) -> int:
    """A descriptor of an anonymous in-memory file holding `text`, at its start."""
    fd = os.memfd_create("l4lb-bpftool-input", os.MFD_CLOEXEC)
    data = memoryview(text.encode())
    while data:
        data = data[os.write(fd, data) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _error_text(stdout: str, stderr: str) -> str:
    """bpftool -j puts its error in JSON on stdout; libbpf adds lines on stderr."""
    message = ""
    for line in stdout.splitlines():
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(doc, dict) and "error" in doc:
            message = str(doc["error"])
        elif isinstance(doc, list):
            for item in doc:
                out = item.get("output") if isinstance(item, dict) else None
                if isinstance(out, dict) and "error" in out:
                    message = str(out["error"])
    # Without -j (batch) bpftool's own error is a stderr line "Error: ...".
    detail = [ln.strip().removeprefix("Error: ") for ln in stderr.splitlines() if ln.strip()]
    # libbpf's last lines say why (e.g. "Invalid argument"); the verifier log
    # before them can run to thousands of lines.
    tail = "; ".join(detail[-3:])
    if message and tail and tail not in message:
        return f"{message} ({tail})"
    return message or tail or "bpftool failed without a message"


class Bpftool:
    """bpftool, run in this network namespace or in a named one.

    A named namespace is entered with nsenter, which (unlike `ip netns exec`)
    keeps the host's mounts and so the host's bpffs and its pins.
    """

    def __init__(
        self, binary: str = "bpftool", timeout: float = 60.0, netns: str | None = None
    ) -> None:
        self.binary = binary
        self.timeout = timeout
        self.netns = netns
        # Descriptors bpftool inherits: the writer's interface lock (lock.py).
        self.keep_fds: tuple[int, ...] = ()

    def run(self, args: Sequence[str], stdin: str | None = None) -> Any:
        """One bpftool command with JSON output, decoded (None when it printed nothing)."""
        out = self.call(args, stdin).strip()
        if not out:
            return None
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            raise BpfError(
                f"unreadable output from {self.binary}: {out[:200]}", self._argv(args)
            ) from None

    def _argv(self, args: Sequence[str], json_output: bool = True) -> list[str]:
        prefix = ["nsenter", f"--net=/run/netns/{_netns(self.netns)}"] if self.netns else []
        return [*prefix, self.binary, *(["-j"] if json_output else []), *args]

    def call(
        self,
        args: Sequence[str],
        stdin: str | None = None,
        json_output: bool = True,
        own_session: bool = False,
    ) -> str:
        """Run bpftool; its stdout.  BpfError with bpftool's words if it fails.
        `own_session`: a terminal's Ctrl-C, sent to our process group, does
        not reach it."""
        argv = self._argv(args, json_output)
        # The whole input is in memory before bpftool starts, not fed through
        # a pipe: a writer killed mid-reload would leave bpftool a truncated
        # batch, which it runs (a reload's entries without its flip).
        feed = _in_memory(stdin) if stdin is not None else None
        try:
            proc = subprocess.run(  # noqa: S603 - argv list, no shell
                argv,
                stdin=feed,
                capture_output=True,
                text=True,
                check=False,
                timeout=self.timeout,
                pass_fds=self.keep_fds,
                start_new_session=own_session,
                env={**os.environ, **_POSIX_GETOPT},
            )
        except FileNotFoundError:
            raise BpfError(
                f"{self.binary} not found: install it with 'apt-get install bpftool'", argv
            ) from None
        except PermissionError as exc:
            raise BpfError(f"cannot run {self.binary}: {exc.strerror}", argv) from None
        except subprocess.TimeoutExpired:
            raise BpfError(f"{self.binary} did not finish in {self.timeout:.0f} s", argv) from None
        finally:
            if feed is not None:
                os.close(feed)
        if proc.returncode != 0:
            raise BpfError(_error_text(proc.stdout, proc.stderr), argv)
        return proc.stdout

    # -- bpffs and pins -------------------------------------------------

    @staticmethod
    def bpffs_mounted() -> bool:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return False
        return any(
            line.split()[1:3] == [str(BPFFS), "bpf"]
            for line in mounts.splitlines()
            if len(line.split()) >= 3
        )

    def ensure_bpffs(self) -> None:
        """Mount bpffs at /sys/fs/bpf if it is missing (a fresh machine).

        `ip netns exec` gives its command a private /sys without bpffs; a bpffs
        mounted there would vanish with the command, and the pins with it.
        Refuse that case with advice instead of losing the pins.
        """
        if self.bpffs_mounted():
            return
        # `l4lb --netns` enters only the network namespace: a bpffs mounted
        # then is the host's.  `ip netns exec` also gives a mount namespace
        # of its own, told by the sysfs it mounts under the netns's name.
        name = namespaces.name_here()
        if name and procfs.sys_source() == name:
            raise BpfError(
                f"bpffs is not mounted at {BPFFS} in this mount namespace (ip netns exec?): "
                "pins made here would be lost; run 'l4lb --netns NAME ...' instead"
            )
        _run_mount(["mount", "-t", "bpf", "bpf", str(BPFFS)])

    # -- programs ---------------------------------------------------------

    def prog_load(
        self,
        obj: Path,
        pin: Path,
        maps_dir: Path,
        offload_dev: str | None = None,
        given: dict[str, Path] | None = None,
    ) -> None:
        """Load and pin a program and its maps; `given`: maps of the object
        (by name) to use instead of new ones, pinned there (made by
        map_create with another size than the object's)."""
        args = ["prog", "load", str(obj), str(pin), "type", "xdp"]
        for name, map_pin in sorted((given or {}).items()):
            args += ["map", "name", _safe(name), "pinned", str(map_pin)]
        if offload_dev is not None:
            # bpftool 7.1 spells device-bound (offloaded) loading `dev`.
            args += ["dev", _safe(offload_dev)]
        args += ["pinmaps", str(maps_dir)]
        self.run(args)

    def prog_load_sharing(self, obj: Path, pin: Path, maps: dict[str, Path]) -> None:
        """Load a program whose maps are the pinned ones named in `maps`
        (by their names in the object), instead of new ones."""
        args = ["prog", "load", str(obj), str(pin)]
        for name, map_pin in sorted(maps.items()):
            args += ["map", "name", _safe(name), "pinned", str(map_pin)]
        self.run(args)

    def map_create(
        self, pin: Path, kind: str, key_size: int, value_size: int, entries: int, name: str
    ) -> None:
        args = ["map", "create", str(pin), "type", _safe(kind), "key", str(key_size)]
        args += ["value", str(value_size), "entries", str(entries), "name", _safe(name)]
        self.run(args)

    def prog_show_pinned(self, pin: Path) -> dict[str, Any]:
        doc = self.run(["prog", "show", "pinned", str(pin)])
        return dict(doc)

    def prog_dump_xlated(self, pin: Path) -> list[dict[str, Any]]:
        # Only the tests use it (tests/dataplane/test_offload_object.py): the
        # offload object's helper calls and atomics as bpftool disassembles
        # them, which bpf(2) hands over as raw instructions.
        return list(self.run(["prog", "dump", "xlated", "pinned", str(pin)]) or [])

    # -- XDP attachment -------------------------------------------------

    def net_attach(self, mode: str, pin: Path, ifname: str, overwrite: bool = False) -> None:
        args = ["net", "attach", XDP_MODES[mode], "pinned", str(pin), "dev", _dev(ifname)]
        if overwrite:
            args.append("overwrite")
        self.run(args)

    def net_detach(self, mode: str, ifname: str) -> None:
        self.run(["net", "detach", XDP_MODES[mode], "dev", _dev(ifname)])

    # -- maps ---------------------------------------------------------------

    def map_update(self, pin: Path, key: bytes, value: bytes) -> None:
        self.run(["map", "update", "pinned", str(pin), "key", *_hex(key), "value", *_hex(value)])

    def batch(self, commands: Iterable[str | Sequence[str]]) -> int:
        """Run many commands in one bpftool process; return how many ran.

        A command is a token list, or a line from update_cmd/delete_cmd.
        bpftool stops at the first failing command; the error carries its message.
        """
        lines = [cmd if isinstance(cmd, str) else " ".join(map(_safe, cmd)) for cmd in commands]
        if not lines:
            return 0
        # Without -j: in JSON mode bpftool echoes every command back as a token
        # list (megabytes for a full reload) only for us to parse and drop.
        # Its error still comes on stderr.
        with _finish_first():
            text = "\n".join(lines) + "\n"
            self.call(["batch", "file", "-"], text, json_output=False, own_session=True)
        return len(lines)

    @staticmethod
    def unpin_tree(path: Path, root: Path = PIN_ROOT) -> None:
        """Remove a pin directory: the one way l4lb, its lab, benchmarks and
        tests do.  Only ever below `root` (the balancers' pins unless a
        caller names its own area)."""
        if not str(path).startswith(str(root) + "/"):
            raise BpfError(f"refusing to remove {path}: not under {root}")
        if not path.exists():
            return
        try:
            _unpin(path)
        except OSError as exc:
            raise BpfError(f"cannot remove pins under {path}: {exc.strerror}") from None

    @staticmethod
    def update_cmd(pin: Path | int, key: bytes, value: bytes) -> str:
        """A batch line, for a map named by its pin or by its id.  Built as
        text: a reload writes thousands of them, and only the path needs
        checking (the hex comes from bytes)."""
        return f"map update {_map_ref(pin)} key hex {key.hex(' ')} value hex {value.hex(' ')}"

    @staticmethod
    def delete_cmd(pin: Path | int, key: bytes) -> str:
        """A batch line deleting a hash map's key (which must be there:
        bpftool stops a batch at a failed delete)."""
        return f"map delete {_map_ref(pin)} key hex {key.hex(' ')}"
