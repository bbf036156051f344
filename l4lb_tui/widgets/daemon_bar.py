"""One line under the backend table: the daemon (config drift first,
health checks), the refresh rate and the sort, so an operator sees what the
figures above are and how fresh they are."""

from __future__ import annotations

from textual.widgets import Static

from l4lb_tui.console_daemon import DaemonView
from l4lb_tui.viewmodels.health_rows import daemon_line


def refresh_words(interval: float | None, paused: bool) -> str:
    if paused:
        return "PAUSED (p resumes)"
    if interval is None:
        return "refresh on demand"
    return f"refresh {interval:g} s"


class DaemonBar(Static):
    DEFAULT_CSS = """
    DaemonBar { height: 1; padding: 0 1; color: $text; }
    """

    def show(
        self, daemon: DaemonView | None, interval: float | None, paused: bool, sort: str
    ) -> None:
        # The daemon's state (drift above all) first: at 80 columns the end
        # of the line is cut, and the refresh and sort are said elsewhere too.
        line = daemon_line(daemon)
        line.append(" · ")
        line.append(refresh_words(interval, paused), style="bold reverse" if paused else "bold")
        line.append(f" · sort {sort}")
        self.update(line)
