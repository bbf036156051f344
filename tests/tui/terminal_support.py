"""A real console process in a tmux server of its own, read with capture-pane."""

from __future__ import annotations

import secrets
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).parent.parent.parent
DEADLINE = 60.0  # seconds for the screen to show what is waited for (a loaded host)


class Tmux:
    """One tmux server (its own socket: parallel runs never meet), one pane."""

    def __init__(self, tag: str, size: tuple[int, int]) -> None:
        self.sock = f"{tag}-{secrets.token_hex(3)}"
        self.size = size

    def tmux(self, *args: str) -> str:
        argv = ["tmux", "-L", self.sock, *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)  # noqa: S603
        return done.stdout

    def start(self, argv: list[str], pidfile: Path) -> None:
        """`argv` in the pane; its pid goes to `pidfile`; the pane stays
        after it ends, with its exit code and the shell's prompt."""
        inner = f"echo $$ > {shlex.quote(str(pidfile))}; exec {shlex.join(argv)}"
        shell = f"cd {shlex.quote(str(REPO))}; sh -c {shlex.quote(inner)}; echo EXIT=$?; sleep 600"
        width, height = self.size
        self.tmux("new-session", "-d", "-s", "c", "-x", str(width), "-y", str(height), shell)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "c")

    def flags(self) -> dict[str, str]:
        names = ("alternate_on", "mouse_any_flag", "mouse_button_flag", "cursor_flag")
        out = self.tmux("display", "-p", "-t", "c", " ".join(f"#{{{n}}}" for n in names))
        return dict(zip(names, out.split(), strict=True))

    def wait_for(self, text: str, *, last_line: str = "") -> str:
        """The first screen showing `text` (and `last_line` in its bottom
        line): a capture can land between a modal's body and its footer."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            shown = self.screen()
            lines = shown.splitlines() or [""]
            if text in shown and last_line in lines[-1]:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never showed; the screen:\n{self.screen()}")

    def kill(self) -> None:
        # The socket file outlives its server: remove it too.
        socket = self.tmux("display", "-p", "#{socket_path}").strip()
        self.tmux("kill-server")
        if socket:
            Path(socket).unlink(missing_ok=True)


def console_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "l4lb_tui.app", *args]


def assert_restored(tmux: Tmux) -> None:
    """The terminal as it was: main screen, no mouse tracking, a cursor."""
    flags = tmux.flags()
    assert flags == {
        "alternate_on": "0",
        "mouse_any_flag": "0",
        "mouse_button_flag": "0",
        "cursor_flag": "1",
    }, (flags, tmux.screen())
