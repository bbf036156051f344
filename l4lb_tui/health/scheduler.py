"""The probe scheduler: every check probed every interval, from one thread.

A check's first probe starts at a random point of its first interval, so a
start (or a thousand new backends) spreads its probes instead of sending them
in one burst.  Then each one keeps its phase: a probe starts every
`interval` seconds, never while the check's previous one is still in flight
(that slot is skipped), and ends as a failure `timeout` seconds after it
started.  Timers fire on a grid of `batch` seconds (10 ms: starts and
timeouts are that late at most), so thousands of checks cost a few hundred
wake-ups a second, not one per probe.

Results reach `deliver` from the scheduler's thread, in batches (a tuple of
immutable ProbeResults, in the order they ended).  To feed an asyncio loop:

    Scheduler(lambda rs: loop.call_soon_threadsafe(queue.put_nowait, rs))

`deliver` must not raise: if it does, the scheduler stops and `stop()`
raises that exception.  The thread enters `netns` (the balancer's namespace)
before it opens any socket; by default it stays in the caller's.
"""

from __future__ import annotations

import heapq
import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from l4lb_tui.health.adapters.sockets import ProbeSockets, Session
from l4lb_tui.health.model import CheckKey, Probe, ProbeResult
from l4lb_tui.netlink import enter_netns

BATCH = 0.01
# The longest the loop sleeps with no timer due: changes and stop() wake it
# at once anyway, so this only bounds a wait on nothing.
IDLE_WAIT = 1.0
Deliver = Callable[[tuple[ProbeResult, ...]], None]


class Scheduler:
    """Probes a set of checks (`set_probes`) from its own thread (`start`/`stop`)."""

    def __init__(
        self,
        deliver: Deliver,
        *,
        netns: str | None = None,
        seed: int | None = None,
        batch: float = BATCH,
    ) -> None:
        self._deliver = deliver
        self._netns = netns
        self._rng = random.Random(seed)
        self._batch = batch
        self._lock = threading.Lock()
        self._pending: tuple[Probe, ...] | None = ()
        self._stopping = False
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._sockets: ProbeSockets | None = None
        self._thread: threading.Thread | None = None

    # The caller's side

    def set_probes(self, probes: Iterable[Probe]) -> None:
        """Probe exactly these from now on.  A new or changed probe starts at
        a random point of its first interval; an unchanged one keeps its
        phase; a removed one stops (a probe in flight gives no result)."""
        wanted = tuple(probes)
        keys = {p.key for p in wanted}
        if len(keys) != len(wanted):
            raise ValueError("two probes for one check")
        with self._lock:
            self._pending = wanted
        self._wake()

    def start(self) -> None:
        """Start the thread; raises what kept it from probing (NetlinkError for
        the namespace, SocketError for epoll)."""
        if self._thread is not None:
            raise RuntimeError("the scheduler was started already")
        self._thread = threading.Thread(target=self._run, name="l4lb-health", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            raise self._failure

    def stop(self, timeout: float = 5.0) -> None:
        """Stop probing and close every socket; no delivery after this returns."""
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        self._wake()
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"the health scheduler did not stop within {timeout:g} s")
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    def _wake(self) -> None:
        # Under the lock: the thread closes the sockets (and their eventfd,
        # whose number may be reused at once) only while holding it.
        with self._lock:
            if self._sockets is not None:
                self._sockets.wake()

    def __enter__(self) -> Scheduler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # The scheduler's thread

    def _run(self) -> None:
        try:
            if self._netns is not None:
                enter_netns(self._netns)
            sockets = ProbeSockets()
        except Exception as exc:
            self._failure = exc
            self._ready.set()
            return
        with self._lock:
            self._sockets = sockets
        self._ready.set()
        try:
            loop = _Loop(sockets, self._rng, self._batch)
            loop.run(self._take_pending, self._deliver, lambda: self._stopping)
        except BaseException as exc:  # the caller's deliver failed: stop() raises it
            self._failure = exc
        finally:
            with self._lock:
                self._sockets = None
                sockets.close()

    def _take_pending(self) -> tuple[Probe, ...] | None:
        with self._lock:
            pending, self._pending = self._pending, None
        return pending


class _Check:
    """A probe being scheduled: its session, and whether it is still wanted."""

    __slots__ = ("deadline", "due", "probe", "session", "wanted")

    def __init__(self, probe: Probe, session: Session, due: float) -> None:
        self.probe = probe
        self.session = session
        self.due = due  # when its next probe starts
        self.deadline = 0.0  # when the probe in flight times out
        self.wanted = True


class _Wheel:
    """Timers on a grid of `batch` seconds: adding one is a list append
    (a heap of thousands of timers cost more than the probes' own Python),
    and none fires before its time.  Only the grid's ticks that hold timers
    are in the heap, as small integers."""

    def __init__(self, batch: float) -> None:
        self.batch = batch
        self.buckets: dict[int, list[Any]] = {}
        self.ticks: list[int] = []

    def add(self, at: float, item: Any) -> None:
        tick = math.ceil(at / self.batch)
        bucket = self.buckets.get(tick)
        if bucket is None:
            self.buckets[tick] = [item]
            heapq.heappush(self.ticks, tick)
        else:
            bucket.append(item)

    def pop(self, now: float) -> list[Any]:
        """Every timer whose time has come, in the order of their ticks."""
        ticks, limit = self.ticks, now / self.batch
        if not ticks or ticks[0] > limit:
            return []
        due = self.buckets.pop(heapq.heappop(ticks))
        while ticks and ticks[0] <= limit:
            due += self.buckets.pop(heapq.heappop(ticks))
        return due

    def next(self) -> float | None:
        return self.ticks[0] * self.batch if self.ticks else None


class _Loop:
    """The timers of one scheduler thread: when each check starts and ends."""

    def __init__(self, sockets: ProbeSockets, rng: random.Random, batch: float) -> None:
        self.sockets = sockets
        self.rng = rng
        self.checks: dict[CheckKey, _Check] = {}
        self.starts = _Wheel(batch)  # of _Check
        self.deadlines = _Wheel(batch)  # of _Check

    def run(
        self,
        take_pending: Callable[[], tuple[Probe, ...] | None],
        deliver: Deliver,
        stopping: Callable[[], bool],
    ) -> None:
        clock = time.monotonic
        while not stopping():
            pending = take_pending()
            if pending is not None:
                self.replace(pending, clock())
            now = clock()
            results = self.expire(now)
            self.start_due(now)
            results += self.sockets.poll(self.wait(clock()))
            if results and not stopping():
                deliver(tuple(results))

    def replace(self, probes: tuple[Probe, ...], now: float) -> None:
        wanted = {p.key: p for p in probes}
        for key, check in list(self.checks.items()):
            if wanted.get(key) != check.probe:
                check.wanted = False
                self.sockets.close_session(check.session)
                del self.checks[key]
        for key, probe in wanted.items():
            if key not in self.checks:
                first = now + self.rng.uniform(0.0, probe.interval)
                check = _Check(probe, self.sockets.open(probe), first)
                self.checks[key] = check
                self.starts.add(first, check)

    def expire(self, now: float) -> list[ProbeResult]:
        expired = []
        for check in self.deadlines.pop(now):
            # A later probe of the check has a later deadline: not this one.
            if check.deadline <= now and check.wanted:
                result = self.sockets.expire(check.session, now)
                if result is not None:
                    expired.append(result)
        return expired

    def start_due(self, now: float) -> None:
        # Thousands a second: the methods used per check, looked up once.
        again, time_out, start = self.starts.add, self.deadlines.add, self.sockets.start
        clock = time.monotonic
        for check in self.starts.pop(now):
            if not check.wanted:
                continue
            probe = check.probe
            following = check.due + probe.interval
            if following <= now:
                # Late (a stalled host): slots missed are skipped, the phase kept.
                following += math.ceil((now - following) / probe.interval) * probe.interval
            check.due = following
            again(following, check)
            session = check.session
            if session.busy:
                continue  # never two probes of one check at once
            # Its own start time: a batch of connects takes a while to send.
            started = clock()
            start(session, started)
            check.deadline = deadline = started + probe.timeout
            time_out(deadline, check)

    def wait(self, now: float) -> float:
        """Seconds until the next timer (on the grid already)."""
        times = [t for t in (self.starts.next(), self.deadlines.next()) if t is not None]
        return max(min(times, default=now + IDLE_WAIT) - now, 0.0)
