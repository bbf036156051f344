"""Enter on the dashboard: one backend in detail, as bpftop's graphs show a
program: pkts/s and bits/s over the last ten minutes, its totals, what this
console saw change (weight, drain, health, generation), and its share of the
ring against its share of the traffic."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static
from textual_plotext import PlotextPlot

from l4lb_tui.rates import fmt_int
from l4lb_tui.viewmodels.detail import SPAN, BackendDetail
from l4lb_tui.widgets.chart import y_ticks
from l4lb_tui.widgets.footer import KeyFooter

Source = Callable[[], BackendDetail | None]


def summary(d: BackendDetail) -> Text:
    row = d.row
    state = "down (health)" if row.down else "draining" if row.draining else "serving"
    text = Text()
    text.append(f"{row.ip}", style="bold")
    text.append(f" of {row.service} · MAC {row.mac} · slot {row.index} · ")
    text.append(f"weight {row.weight}, {state}\n", style="yellow" if state != "serving" else "")
    text.append(
        f"now {fmt_int(row.rate.pps)} pkts/s, {fmt_int(row.rate.bps)} bits/s · "
        f"totals since its slot was loaded: {fmt_int(row.pkts)} packets, "
        f"{fmt_int(row.bytes)} bytes\n"
    )
    ring = "working it out…" if d.ring_share is None else f"{d.ring_share * 100:.1f}%"
    text.append(f"share of the ring {ring} · share of the service's traffic ")
    text.append(f"{d.traffic_share * 100:.1f}%", style="bold")
    return text


def changes_text(d: BackendDetail) -> Text:
    text = Text("Seen by this console:\n", style="bold")
    if not d.changes:
        text.append("nothing yet", style="dim")
    for at, what in reversed(d.changes):
        text.append(f"{time.strftime('%H:%M:%S', time.localtime(at))}  {what}\n")
    return text


class RateChart(PlotextPlot):
    def draw(self, title: str, seconds: tuple[float, ...], values: tuple[float, ...]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel("seconds ago")
        if values:
            plt.plot(list(seconds), list(values), marker="braille")
        plt.xlim(-SPAN, 0)
        # As the dashboard's chart: from 0 to a round top, in k/M/G (no
        # "2895872.0"); no traffic gives 0 to 1, not plotext's 0.33-1.00.
        ticks, labels = y_ticks(max(values, default=0.0))
        plt.ylim(0, ticks[-1])
        plt.yticks(ticks, labels)
        self.refresh()


class DetailScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "dismiss", "Close", tooltip="back to the table"),
    ]

    DEFAULT_CSS = """
    DetailScreen { align: center middle; }
    DetailScreen > Vertical {
        width: 95%; height: 95%; padding: 0 1;
        border: thick $primary; background: $surface;
    }
    DetailScreen #summary { height: auto; }
    DetailScreen Horizontal { height: 1fr; }
    DetailScreen RateChart { width: 1fr; height: 1fr; }
    DetailScreen #changes-box { height: auto; max-height: 8; }
    DetailScreen #changes { height: auto; }
    """

    def __init__(self, source: Source, interval: float | None, ring: Callable[[], float]) -> None:
        super().__init__()
        self.source = source
        self.interval = interval
        self._ring_of = ring
        self.ring: float | None = None
        self.shown: BackendDetail | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="summary")
            with Horizontal():
                yield RateChart(id="pps")
                yield RateChart(id="bps")
            # Focused, so ↓/↑ scroll the changes that do not fit (80x24).
            with VerticalScroll(id="changes-box"):
                yield Static(id="changes")
        yield KeyFooter()  # its own keys, not the dashboard's beneath

    def on_mount(self) -> None:
        self.query_one(Vertical).border_title = "Backend detail (Esc closes, ↓ scrolls)"
        self.query_one("#changes-box", VerticalScroll).focus()
        self.update_view()
        # A Maglev fill of a large ring takes a moment: not on the UI thread.
        self.run_worker(self._work_out_ring, thread=True, group="detail", exit_on_error=False)
        if self.interval is not None:
            self.set_interval(self.interval, self.update_view)

    def _work_out_ring(self) -> None:
        share = self._ring_of()
        self.app.call_from_thread(self._ring_known, share)

    def _ring_known(self, share: float) -> None:
        self.ring = share
        self.update_view()

    def update_view(self) -> None:
        found = self.source()
        if found is None:
            self.query_one("#summary", Static).update(
                Text("this backend is gone from the balancer", style="yellow")
            )
            return
        d = self.shown = replace(found, ring_share=self.ring)
        self.query_one("#summary", Static).update(summary(d))
        self.query_one("#pps", RateChart).draw("pkts/s, last 10 min", d.seconds, d.pps)
        self.query_one("#bps", RateChart).draw("bits/s, last 10 min", d.seconds, d.bps)
        self.query_one("#changes", Static).update(changes_text(d))
