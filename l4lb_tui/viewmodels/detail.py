"""One backend in detail (Enter on the dashboard), worked out without Textual:
its rates over the last ten minutes, totals, the changes this console saw
(weight, drain, health, its service's generation), and its share of the
ring against its share of traffic.

The poll's thread feeds `LongHistory` and `ChangeLog` with every view (see
feed.py); the detail screen reads them from the UI thread, under their lock.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import deque
from dataclasses import dataclass

from l4lb_tui.model import Service, State
from l4lb_tui.rates import share
from l4lb_tui.ring_fill import FillMode, fill
from l4lb_tui.stats import BackendRow, StatsView

STEP = 5.0  # seconds a point of the long history averages
SPAN = 600.0  # ten minutes
CHANGES_KEPT = 30  # per backend


class LongHistory:
    """Every backend's pkts/s and bits/s over the last `span` seconds, one
    point every `step`: the rate between two marks of its counters, so a
    poll between marks costs nothing (arrays: 4096 backends cost ~8 MB)."""

    def __init__(self, step: float = STEP, span: float = SPAN) -> None:
        self.step, self.points = step, int(span // step)
        self._lock = threading.Lock()
        self._times: deque[float] = deque(maxlen=self.points)
        self._pps: dict[int, array[float]] = {}
        self._bps: dict[int, array[float]] = {}
        self._mark: tuple[float, dict[int, tuple[int, int]]] | None = None

    def clear(self) -> None:
        with self._lock:
            self._times.clear()
            self._pps.clear()
            self._bps.clear()
            self._mark = None

    def add(self, view: StatsView, at: float) -> None:
        mark = self._mark
        if mark is not None and at - mark[0] < self.step:
            return
        counts = {row.index: (row.pkts, row.bytes) for row in view.rows}
        with self._lock:
            self._mark = (at, counts)
            if mark is not None:
                self._close(at, at - mark[0], mark[1], counts)

    def _close(
        self,
        at: float,
        seconds: float,
        before: dict[int, tuple[int, int]],
        now: dict[int, tuple[int, int]],
    ) -> None:
        self._times.append(at)
        for index in set(self._pps) - set(now):
            del self._pps[index], self._bps[index]  # gone from the balancer
        for index, (pkts, nbytes) in now.items():
            was = before.get(index, (pkts, nbytes))
            # A slot loaded anew starts its counters again: no rate across it.
            pps = max(0, pkts - was[0]) / seconds
            bps = max(0, nbytes - was[1]) * 8 / seconds
            for store, value in ((self._pps, pps), (self._bps, bps)):
                points = store.setdefault(index, array("d"))
                points.append(value)
                if len(points) > self.points + 32:  # trimmed now and then, not each time
                    del points[: len(points) - self.points]

    def series(self, index: int) -> tuple[list[float], list[float], list[float]]:
        """(seconds ago, pkts/s, bits/s) of one backend, oldest first."""
        with self._lock:
            pps = list(self._pps.get(index, ()))[-self.points :]
            bps = list(self._bps.get(index, ()))[-self.points :]
            times = list(self._times)[-len(pps) :] if pps else []
        now = times[-1] if times else 0.0
        return [t - now for t in times], pps, bps


@dataclass(frozen=True, slots=True)
class Seen:
    weight: int
    draining: bool
    down: bool
    generation: int


class ChangeLog:
    """What this console saw change of each backend, poll by poll."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[int, Seen] = {}
        self._log: dict[int, deque[tuple[float, str]]] = {}
        self._services: object = None

    def add(self, state: State, now: float | None = None) -> None:
        if state.services is self._services:
            return  # nothing reloaded: the reader hands back the same tuple
        when = time.time() if now is None else now
        with self._lock:
            self._services = state.services
            for svc in state.services:
                for be in svc.backends:
                    seen = Seen(be.weight, be.draining, be.down, svc.value.gen)
                    was = self._last.get(be.index)
                    if was != seen:
                        said = _changed(was, seen)
                        log = self._log.setdefault(be.index, deque(maxlen=CHANGES_KEPT))
                        log.append((when, said))
                        self._last[be.index] = seen

    def changes(self, index: int) -> list[tuple[float, str]]:
        with self._lock:
            return list(self._log.get(index, ()))


def _changed(was: Seen | None, now: Seen) -> str:
    state = "down (health)" if now.down else "draining" if now.draining else "serving"
    if was is None:
        return f"first seen: weight {now.weight}, {state}, generation {now.generation}"
    words = []
    if was.weight != now.weight:
        words.append(f"weight {was.weight} → {now.weight}")
    if was.draining != now.draining:
        words.append("drained" if now.draining else "undrained")
    if was.down != now.down:
        words.append("down (health)" if now.down else "up again (health)")
    if was.generation != now.generation:
        words.append(f"generation {was.generation} → {now.generation}")
    return ", ".join(words)


@dataclass(frozen=True, slots=True)
class BackendDetail:
    row: BackendRow
    seconds: tuple[float, ...]
    pps: tuple[float, ...]
    bps: tuple[float, ...]
    changes: tuple[tuple[float, str], ...]
    traffic_share: float  # of the service's traffic now
    ring_share: float | None  # of the service's ring (None: not worked out yet)


def traffic_share(view: StatsView, row: BackendRow) -> float:
    total = sum(r.rate.pps for r in view.rows if r.service == row.service)
    return share(row.rate.pps, total)


def ring_share(service: Service, index: int) -> float:
    """The fraction of the service's ring that points at backend `index`,
    filled as a reload fills it (serving weights, names are the IPs)."""
    backends = service.backends
    if not backends or service.value.ring_size == 0:
        return 0.0
    weights = [0 if b.draining or b.down else b.weight for b in backends]
    if not any(weights):
        return 0.0
    mode = FillMode.MAGLEV if service.value.maglev else FillMode.ROUND_ROBIN
    try:
        ring = fill(
            mode,
            [b.index for b in backends],
            [b.ip for b in backends],
            weights,
            service.value.ring_size,
        )
    except ValueError:
        return 0.0
    return ring.count(index) / len(ring) if ring else 0.0
