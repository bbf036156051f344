"""What one poll changes on the dashboard, worked out in the poll's thread.

The poll worker feeds each sample here and posts the `Digest` it returns:
rates, the last minute of history, every backend's row cells (sparklines
included) and the chart's series.  The UI thread only applies a digest
(filter, row-key sync, render), so a key press waits less behind a refresh.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from l4lb_tui.abi import ServiceKey
from l4lb_tui.console_backend import Sample
from l4lb_tui.console_daemon import DaemonView
from l4lb_tui.model import Backend, Counters, State
from l4lb_tui.stats import StatsView, build_view
from l4lb_tui.viewmodels.backend_rows import BackendLine, backend_lines
from l4lb_tui.viewmodels.detail import ChangeLog, LongHistory
from l4lb_tui.viewmodels.history import ChartSeries, RateHistory

Where = dict[str, tuple[ServiceKey, Backend]]  # row key -> its service and backend

# A poll this soon after the last one (a write's poll, a refresh asked for)
# is rated against the one before: over a few milliseconds, a busy backend's
# counters may not move at all, and it would read 0 pkts/s.
MIN_INTERVAL = 0.5


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything the dashboard shows of one sample; never changed after."""

    state: State | None  # None: no balancer on the interface
    view: StatsView | None
    where: Where
    lines: tuple[BackendLine, ...] = ()
    chart: ChartSeries = field(default_factory=ChartSeries)
    daemon: DaemonView | None = None  # the daemon's status, as the poll read it
    rated: bool = False  # rates are known: not the first sample


class Feed:
    """Counters in, digests out; keeps the previous counters and the history.

    Polls never overlap, but one superseded by a write's poll may still be
    finishing in its thread: one lock keeps their samples in order.
    """

    def __init__(self) -> None:
        self.history = RateHistory()
        self.long = LongHistory()  # ten minutes, for one backend's detail
        self.changes = ChangeLog()  # weights, drains, generations as seen
        self._prev: Counters | None = None  # what rates are worked out against
        self._older: Counters | None = None  # what `_prev` was rated against
        self._last: Counters | None = None  # the newest sample ingested
        self._lock = threading.Lock()
        self._members: tuple[object, Where] | None = None

    def ingest(self, sample: Sample) -> Digest | None:
        """The digest of this sample (None: older than one already fed)."""
        with self._lock:
            cur = sample.counters
            if sample.state is None or cur is None:
                self._prev = self._older = self._last = None
                self.history.clear()
                self.long.clear()
                return Digest(None, None, {})
            if self._last is not None and cur.taken_at <= self._last.taken_at:
                return None  # a late answer from an older poll
            prev, older = self._prev, self._older
            self.changes.add(sample.state)
            if prev is not None and cur.taken_at - prev.taken_at < MIN_INTERVAL:
                # Too soon after `prev`: rated against the sample before it,
                # kept out of the history (a point a period), `prev` stays.
                base = older
                view = build_view(sample.state, base, cur)
            else:
                base = prev
                view = build_view(sample.state, base, cur)
                if base is not None:
                    self.history.add(view)
                    self.long.add(view, cur.taken_at)
                self._older, self._prev = prev, cur
            self._last = cur
            return Digest(
                sample.state,
                view,
                self._where(sample.state),
                backend_lines(view, self.history, sample.daemon, rated=base is not None),
                ChartSeries.of(self.history),
                sample.daemon,
                rated=base is not None,
            )

    def _where(self, state: State) -> Where:
        # Membership changes only on reloads, and the reading Balancer hands
        # back the same services tuple until then.
        if self._members is not None and self._members[0] is state.services:
            return self._members[1]
        where = {str(b.index): (svc.key, b) for svc in state.services for b in svc.backends}
        self._members = (state.services, where)
        return where
