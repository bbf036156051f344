"""The operator console: `l4lb tui` or `l4lb-tui`.

The app only wires screens to a ConsoleBackend; quitting leaves the data
plane running (the balancer lives in the kernel and its pins, not here).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from l4lb_tui.console import ConsoleBackend, ConsoleSettings, FakeBackend, RealBackend
from l4lb_tui.netlink import NetlinkError, enter_netns
from l4lb_tui.screens.dashboard import DashboardScreen
from l4lb_tui.screens.help import HelpScreen
from l4lb_tui.screens.interfaces import InterfacesScreen
from l4lb_tui.screens.palette import ConsoleCommands

HELP_SCREEN = "help"


class ConsoleApp(App[int]):
    TITLE = "l4lb console"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="leave the console; the balancer keeps running"),
        Binding("question_mark", "help", "Help", tooltip="every key of the console"),
    ]

    COMMANDS = App.COMMANDS | {ConsoleCommands}

    def __init__(
        self,
        backend: ConsoleBackend,
        interface: str | None = None,
        settings: ConsoleSettings | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.interface = interface
        self.settings = settings or ConsoleSettings()

    def on_mount(self) -> None:
        self.push_screen(InterfacesScreen(self.backend, self.settings))
        if self.interface:
            self.push_screen(DashboardScreen(self.backend, self.interface, self.settings))

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        # Built once and kept installed: the help never changes, and composing
        # and laying out its table again cost more than the key may take.
        if not self.is_screen_installed(HELP_SCREEN):
            self.install_screen(HelpScreen(self.BINDINGS), HELP_SCREEN)
        self.push_screen(HELP_SCREEN)


def run_console(
    interface: str | None,
    backend: ConsoleBackend | None = None,
    settings: ConsoleSettings | None = None,
) -> int:
    app = ConsoleApp(backend or RealBackend(), interface, settings)
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
        "--demo", action="store_true", help="frozen demo data; touches no kernel state"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.netns:
        # Before the app starts any thread: threads keep the namespace of
        # the thread that created them.
        try:
            enter_netns(args.netns)
        except NetlinkError as exc:
            print(f"l4lb-tui: error: {exc}", file=sys.stderr)
            sys.exit(2)
    if args.demo:
        sys.exit(run_console(args.interface or "lb0", FakeBackend.demo(dns=True)))
    sys.exit(run_console(args.interface))


if __name__ == "__main__":
    main()
