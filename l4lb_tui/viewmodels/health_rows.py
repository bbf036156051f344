"""The health column and the daemon's line on the dashboard (pure).

The daemon publishes each checked backend's health (health_status.py); the
console shows it per row: the status (up, down, rising, falling), the last
probe's result and latency.  A dash where nothing checks the backend: no
daemon, no health check for its service, or a daemon that is gone.
"""

from __future__ import annotations

from rich.text import Text

from l4lb_tui.console_daemon import DaemonView
from l4lb_tui.health_status import HealthEntry
from l4lb_tui.viewmodels.cells import Cell

NONE = "\u2013"  # an en dash
STYLES = {"up": "green", "falling": "yellow", "rising": "yellow", "down": "bold red"}


def health_of(daemon: DaemonView | None, service: str, ip: str) -> HealthEntry | None:
    if daemon is None or daemon.stale:
        return None
    return daemon.health.get((service, ip))


def health_cell(entry: HealthEntry | None) -> Cell:
    """The status and the last probe: its latency when it passed ("up 0.4
    ms"), what it met when it failed ("down refused", "falling HTTP 503")."""
    if entry is None:
        return NONE
    if not entry.result:
        text = entry.status  # no probe has answered yet
    elif entry.ok:
        text = f"{entry.status} {entry.latency_ms:.1f} ms"
    else:
        text = f"{entry.status} {entry.result}"
    return Text(text, style=STYLES.get(entry.status, "dim"))


def drift_changes(lines: tuple[str, ...]) -> int:
    """How many changes `l4lb diff` lists: each line with nothing under it
    (a service's heading is not one; its backends' lines are), less the
    notes (which name a service first) and refusals ("!").  Counting the
    headings said "1 change" for a service with two."""
    count = 0
    for n, line in enumerate(lines):
        body = line.lstrip()
        after = lines[n + 1] if n + 1 < len(lines) else ""
        if after and len(after) - len(after.lstrip()) > len(line) - len(body):
            continue  # a heading
        if body[:1].isdigit() or body[:1] in "[!":
            continue
        count += 1
    return max(count, 1)


def daemon_line(daemon: DaemonView | None) -> Text:
    """Whether a daemon runs, its config, and whether the running state
    differs from that file (the drift marker)."""
    if daemon is None:
        return Text("no daemon (no health checks)", style="dim")
    if daemon.stale:
        return Text(
            f"daemon {daemon.pid} is gone (its last health state is not shown)", style="yellow"
        )
    # The drift state first: it is what an 80-column line must not cut.
    drift = daemon.drift
    where = f" · daemon {daemon.pid} · {daemon.config}"
    if drift is None:
        line = Text.styled("this interface is not in the config", "dim")
    elif drift.problem:
        line = Text.styled(f"drift unknown: {drift.problem}", "yellow")
    elif drift.drifted:
        count = drift_changes(drift.lines)
        changes = f"{count} change{'' if count == 1 else 's'}"
        line = Text.styled(
            f"DRIFT: {changes} from the config ('l4lb diff -f {daemon.config}')", "bold yellow"
        )
        where = f" · daemon {daemon.pid}"  # the file is named once already
    else:
        line = Text.styled("as configured", "green")
    line.append(where)
    return line
