"""The operator console: `l4lb tui` or `l4lb-tui`.

The app only wires screens to a ConsoleBackend; quitting leaves the data
plane running (the balancer lives in the kernel and its pins, not here).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

# A lone ESC byte may be the Esc key or the start of a key's escape sequence:
# Textual waits ESCDELAY ms (default 100) for more.  Neovim waits 50 ms
# (ttimeoutlen); an operator on a link that splits sequences sets ESCDELAY.
# Textual reads it once, when first imported: so here, before any of it is.
os.environ.setdefault("ESCDELAY", "50")

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.screen import Screen

from l4lb_tui.console_backend import ConsoleBackend, ConsoleError, ConsoleSettings
from l4lb_tui.console_daemon import DaemonWatch
from l4lb_tui.console_kernel import RealBackend
from l4lb_tui.console_nodes import HostNodes, NodesBackend
from l4lb_tui.console_notes import NOTES_POLL, NotesReader, notes_path
from l4lb_tui.netlink import NetlinkError, enter_netns
from l4lb_tui.node_find import NodeNotFound, read_specs
from l4lb_tui.screens.dashboard import DashboardScreen
from l4lb_tui.screens.help import HelpScreen
from l4lb_tui.screens.interfaces import InterfacesScreen
from l4lb_tui.screens.nodes import NodesScreen
from l4lb_tui.screens.palette import ConsoleCommands
from l4lb_tui.textual_compat import PromptEscapeDriver, prepare_installed_screen

HELP_SCREEN = "help"
NETNS_CHECK = 2.0  # seconds between looks at the namespace it runs in


def terminal_driver() -> type[Driver] | None:
    """The driver for a real terminal (None: Textual's choice, e.g. on Windows)."""
    if sys.platform == "win32":
        return None
    return PromptEscapeDriver


class ConsoleApp(App[int]):
    TITLE = "l4lb console"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="leave the console; the balancer keeps running"),
        Binding("question_mark", "help", "Help", tooltip="every key of the console"),
        # Textual's ctrl+c only says "press ctrl+q": here it leaves, as q does.
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        # As htop and less: back to the shell with the terminal restored;
        # `fg` redraws.  (Textual binds no key to it.)
        Binding("ctrl+z", "suspend_process", "Suspend", show=False, priority=True),
    ]

    COMMANDS = App.COMMANDS | {ConsoleCommands}

    def __init__(
        self,
        backend: ConsoleBackend,
        interface: str | None = None,
        settings: ConsoleSettings | None = None,
        driver_class: type[Driver] | None = None,
        netns: str | None = None,
        nodes: NodesBackend | None = None,
    ) -> None:
        super().__init__(driver_class=driver_class)
        # The scale-out nodes (N): the daemon's config's [[node]]s and the labs'.
        self.nodes = nodes or HostNodes()
        self.backend = backend
        self.interface = interface
        self.settings = settings or ConsoleSettings()
        self.netns = netns  # the namespace it was started in (--netns)

    def on_mount(self) -> None:
        # `lab down`, `kill`, a closed ssh session: leave as `q` does, so the
        # terminal gets its screen, mouse and cursor back (the default
        # action of both signals ends the process with the terminal as the
        # console left it: alternate screen, mouse tracking on, no cursor).
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self.signalled, sig)
        # pyroute2 reaches another namespace through a forked child that it
        # ends with SIGTERM; the child shares the loop's wake-up socket, so
        # that SIGTERM would reach this handler as if sent to the console.
        global _FORK_HOOKED
        if not _FORK_HOOKED:
            os.register_at_fork(after_in_child=_no_wakeup_in_child)
            _FORK_HOOKED = True
        if self.netns is not None:
            self._netns_gone = False
            self.set_interval(NETNS_CHECK, self.check_netns)
        if (notes := notes_path()) is not None:
            self._notes = NotesReader(notes)
            self.set_interval(NOTES_POLL, self._poll_notes)
        self.push_screen(InterfacesScreen(self.backend, self.settings))
        if self.interface:
            self.push_screen(DashboardScreen(self.backend, self.interface, self.settings))
        # Built once and kept installed: the help never changes, and composing
        # and laying out its table again cost more than the key may take.
        # Its table is rendered now, off the UI thread, and the screen is
        # composed and mounted once the first frame is out, as if it had been
        # shown and closed already: the first `?` only lays it out.
        help_screen = HelpScreen(self.BINDINGS, readonly=self.settings.readonly)
        self.install_screen(help_screen, HELP_SCREEN)
        self.run_worker(help_screen.prepare, thread=True, group="help", exit_on_error=False)
        self.call_after_refresh(prepare_installed_screen, self, HELP_SCREEN)
        self.call_after_refresh(_freeze_startup_objects)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        # The console's own "Quit" (which says the balancer keeps running) is
        # the palette's one.
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command

    def on_unmount(self) -> None:
        gc.unfreeze()  # what startup built may be freed with the app

    def check_netns(self) -> None:
        """Say once that the namespace it runs in was removed (`ip netns del`):
        this process alone keeps it, and its links, alive."""
        if self.netns is None or self._netns_gone or netns_exists(self.netns):
            return
        self._netns_gone = True
        self.notify(
            f"namespace {self.netns} was removed: only this console keeps it alive; "
            "q leaves (the balancer goes with the namespace)",
            severity="error",
            timeout=30,
            markup=False,
        )

    def _poll_notes(self) -> None:
        self.run_worker(
            self._read_notes, thread=True, group="notes", exclusive=True, exit_on_error=False
        )

    def _read_notes(self) -> None:
        for line in self._notes.new_lines():
            self.call_from_thread(self.notify, line, timeout=30, markup=False)

    def signalled(self, sig: int) -> None:
        """Leave on SIGTERM or SIGHUP; the line printed once the terminal is
        restored says why, and what is gone if something is."""
        self.exit(return_code=128 + sig, message=leaving_message(sig, self.netns))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HELP_SCREEN)

    def action_nodes(self) -> None:
        if not isinstance(self.screen, NodesScreen):
            self.push_screen(NodesScreen(self.nodes, self.settings.links_interval))


def _freeze_startup_objects() -> None:
    """Keep what startup built (modules, Textual's machinery, the screens)
    out of the cyclic GC's full collections: with them in, one took 70-150 ms
    every ~10 s, a stall a key press could land in."""
    gc.collect()
    gc.freeze()


def leaving_message(sig: int, netns: str | None) -> str:
    why = f"l4lb-tui: {signal.Signals(sig).name} received, console closed"
    if netns is not None:
        # Where it ran, a fact; "removed" only when it is gone: `lab down`
        # ends the processes in a namespace before it removes it, and a plain
        # `kill -HUP` removes nothing.
        gone = "" if netns_exists(netns) else ": removed"
        why += f" (it ran in namespace {netns}{gone})"
    return why + "; the balancer, if any, keeps running"


_FORK_HOOKED = False


def _no_wakeup_in_child() -> None:
    with contextlib.suppress(ValueError):  # a fork from a thread that is not main
        signal.set_wakeup_fd(-1)


def lab_destinations(netns: str) -> Path | None:
    """The lab's destinations CSV, when the console runs in a lab's balancer
    namespace (`PREFIX-lb`): where the load dialog opens first."""
    from l4lb_tui.lab import names  # only for a namespace: the lab is not the console's

    prefix = netns.removesuffix("-lb")
    found = names.state_dir(prefix) / "destinations.csv"
    return found if prefix != netns and found.is_file() else None


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def missing_interface(
    backend: ConsoleBackend, interface: str | None, netns: str | None
) -> str | None:
    """Why the console cannot open `interface`, or None.

    A typo (or a link deleted) opened a dashboard stuck on `reading…`, with
    a mode menu offering to attach to nothing: refuse it in one line instead.
    """
    if interface is None:
        return None
    try:
        names = {row.link.ifname for row in backend.links()}
    except ConsoleError as exc:
        return str(exc)
    if interface in names:
        return None
    where = f"network namespace {netns}" if netns else "this network namespace"
    return f"interface {interface} does not exist in {where} (l4lb tui lists the links)"


def config_problem(config: Path | None) -> str | None:
    """Why the config named for the nodes view cannot be read, or None."""
    if config is None:
        return None
    try:
        read_specs(config)
    except NodeNotFound as exc:
        return str(exc)
    return None


def run_console(
    interface: str | None,
    backend: ConsoleBackend | None = None,
    settings: ConsoleSettings | None = None,
    readonly: bool = False,
    netns: str | None = None,
    prog: str = "l4lb-tui",
    config: Path | None = None,
) -> int:
    if settings is None and netns is not None:
        settings = ConsoleSettings(start_file=lab_destinations(netns))
    # Read-only: the settings hide every key that writes, and the backend
    # refuses writes before any lock is asked for.
    settings = replace(
        settings or ConsoleSettings(), readonly=readonly or bool(settings and settings.readonly)
    )
    if backend is None:
        backend = RealBackend(readonly=settings.readonly, daemon=DaemonWatch(netns=netns))
    problem = missing_interface(backend, interface, netns) or config_problem(config)
    if problem is None and not sys.stdin.isatty():
        # It drew the dashboard and read no key, q included: only ctrl+c left.
        problem = "the console needs a terminal on stdin"
    if problem is not None:
        print(f"{prog}: error: {problem}", file=sys.stderr)
        return 2
    nodes = None if config is None else HostNodes(config=lambda: config)
    app = ConsoleApp(backend, interface, settings, terminal_driver(), netns, nodes)
    app.run()
    return app.return_code or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="l4lb-tui", description="l4lb operator console")
    parser.add_argument("-i", "--interface", help="open the dashboard of this interface")
    parser.add_argument(
        "--netns",
        metavar="NAME",
        help="run inside this network namespace (keeps the host's bpffs)",
    )
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        type=Path,
        help="the nodes view (N) lists this config's [[node]]s (default: the daemon's config)",
    )
    parser.add_argument(
        "--demo", action="store_true", help="frozen demo data; touches no kernel state"
    )
    parser.add_argument(
        "--readonly",
        action="store_true",
        help="watch only: no key that changes a balancer is offered, no lock is taken",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    # An empty name is an unset variable, not "stay in this namespace".
    if args.netns is not None:
        # Before the app starts any thread: threads keep the namespace of
        # the thread that created them.
        try:
            enter_netns(args.netns)
        except NetlinkError as exc:
            print(f"l4lb-tui: error: {exc}", file=sys.stderr)
            sys.exit(2)
    if args.demo:
        from l4lb_tui.console_demo import FakeBackend, demo_daemon  # made-up: only for --demo

        demo = FakeBackend.demo(dns=True)
        demo.readonly = args.readonly
        demo.daemon = demo_daemon()
        sys.exit(run_console(args.interface or "lb0", demo, readonly=args.readonly))
    sys.exit(
        run_console(args.interface, readonly=args.readonly, netns=args.netns, config=args.config)
    )


if __name__ == "__main__":
    main()
