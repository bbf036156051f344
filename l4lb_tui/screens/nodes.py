"""Every scale-out node at a glance: its BGP session, what it announces, its
ring prints (a node whose prints differ from the others' is marked), its
packets per second; `d` drains the highlighted node, `u` undrains it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker

from l4lb_tui.console_backend import ConsoleError
from l4lb_tui.console_nodes import NodeSample, NodesBackend
from l4lb_tui.screens.confirm import ConfirmScreen
from l4lb_tui.screens.polling import Polled, PollLoop
from l4lb_tui.viewmodels.node_rows import last_announcer, mismatched, node_rows, rates
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.node_table import NodeTable
from l4lb_tui.widgets.status import StatusLine

Polls = tuple[float, Sequence[NodeSample]]


class NodesScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", tooltip="back to where it was opened from"),
        Binding("d", "drain", "Drain", tooltip="withdraw the highlighted node's VIPs (node drain)"),
        Binding("u", "undrain", "Undrain", tooltip="announce the highlighted node again"),
        Binding("r", "refresh", "Refresh", tooltip="read the nodes again now"),
    ]

    DEFAULT_CSS = """
    NodesScreen #title { height: 1; padding: 0 1; background: $primary; color: $text; }
    NodesScreen NodeTable { height: 1fr; }
    """

    def __init__(self, nodes: NodesBackend, interval: float | None = 1.0) -> None:
        super().__init__()
        self.nodes = nodes
        self.interval = interval
        self.samples: Sequence[NodeSample] = ()
        self._last: tuple[float, dict[str, int]] | None = None
        self.polls = PollLoop(self, "nodes", self._fetch, lambda: self.interval)
        self._acting: dict[str, str] = {}  # node: the verb under way there

    def compose(self) -> ComposeResult:
        yield Static(Text("l4lb console — nodes  (d drains, u undrains)"), id="title")
        yield NodeTable(id="nodes")
        yield StatusLine()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(NodeTable).focus()
        self.polls.now()

    def _fetch(self, seq: int) -> Polls:
        return (time.monotonic(), tuple(self.nodes.nodes()))

    @on(Polled)
    def _polled(self, message: Polled[Polls]) -> None:
        if not self.polls.answers(message):
            return
        if message.result is None:
            self.query_one(StatusLine).show([message.error], error=True)
        else:
            self.show(*message.result)
        self.polls.rearm()

    def show(self, at: float, samples: Sequence[NodeSample]) -> None:
        """Render one poll (the pilot tests call it with frozen samples)."""
        pps: dict[str, float] = {}
        if self._last is not None:
            pps = rates(self._last[1], samples, at - self._last[0])
        self._last = (at, {s.name: s.packets for s in samples if s.packets is not None})
        self.samples = samples
        self.query_one(NodeTable).sync(node_rows(samples, pps))
        split = sorted(mismatched(samples))
        notes = [f"ring prints differ on {', '.join(split)}: configs disagree"] if split else []
        if not samples:
            notes = [
                "no scale-out node found: no [[node]] in the config (l4lb tui -c FILE), "
                "no lab (l4lb lab up --nodes 3)"
            ]
        self.query_one(StatusLine).show(notes, error=bool(split))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if self.polls.failed(event):
            self.query_one(StatusLine).show([f"reading nodes failed: {event.worker.error!r}"], True)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_refresh(self) -> None:
        self.polls.now()

    def action_drain(self) -> None:
        self._act("drain")

    def action_undrain(self) -> None:
        self._act("undrain")

    def _act(self, verb: str) -> None:
        name = self.query_one(NodeTable).current_key
        if not name:
            return
        # d pressed twice ran two drains, two toasts (t16 F15).
        if name in self._acting:
            self.notify(f"{name}: {self._acting[name]}ing already…", severity="warning")
            return
        sample = next((s for s in self.samples if s.name == name), None)
        if sample is not None and sample.session and sample.drained == (verb == "drain"):
            self.notify(f"{name}: already {verb}ed", severity="warning")
            return
        alone = last_announcer(self.samples, name) if verb == "drain" else []
        if not alone:
            self._start(name, verb)
            return
        vips = ", ".join(alone)
        question = (
            f"{name} is the only node announcing {vips}: drained, the router has no route "
            "to it and every client of it loses it. Drain it anyway?"
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._start(name, verb)

        self.app.push_screen(ConfirmScreen("Drain the last node", question), answered)

    def _start(self, name: str, verb: str) -> None:
        self._acting[name] = verb
        self.notify(f"{name}: {verb}ing…")
        self._run(name, verb)

    @work(thread=True, group="node-act", exit_on_error=False)
    def _run(self, name: str, verb: str) -> None:
        act = self.nodes.drain if verb == "drain" else self.nodes.undrain
        try:
            said, severity = act(name), "information"
        except ConsoleError as exc:
            said, severity = str(exc), "error"
        self.app.call_from_thread(self._done, name, said, severity)

    def _done(self, name: str, said: str, severity: SeverityLevel) -> None:
        self._acting.pop(name, None)
        self.notify(said, severity=severity)
        self.polls.now()
