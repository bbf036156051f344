"""`l4lb bench console`: what the operator console costs while it watches.

A balancer in a namespace of this run holds 512 destinations for one UDP
service; hping3 sends it random-source traffic from a second namespace, so
every refresh has new figures.  The console (l4lb_tui.app, refreshing every
second) then runs
  * headless, under Textual's Pilot, in this process: CPU (this process and
    the bpftool processes it waits for) per second of wall time, and the
    latency of `?` (help opens) and Esc (it closes), pressed at spread-out
    moments so some land during a refresh;
  * in a real terminal: `l4lb-tui` in a tmux of its own, CPU of that
    process from /proc, and the time from `tmux send-keys` until the help
    shows in `tmux capture-pane`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from l4lb_bench import defaults, sandbox
from l4lb_bench.chart import table
from l4lb_bench.errors import BenchError
from l4lb_bench.synthetic import synthetic
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.bpf import BpfError
from l4lb_tui.netlink import Netlink
from l4lb_tui.services import parse_service

SERVICE = "10.0.0.4:9000/udp"
CLIENT = "10.0.0.2"
SIZE = (160, 50)
TRAFFIC_INTERVAL_US = 200  # hping3 -i u200: 5,000 packets/s
HELP_MARKER = "Everywhere"  # first section title of the help screen
KEY_HELP = "? (help opens)"
KEY_CLOSE = "Esc (it closes)"
KEY_DOWN = "Down (next row)"
TARGET_CPU = 0.10
TARGET_KEY = 0.100


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float = defaults.CONSOLE_SECONDS
    destinations: int = defaults.CONSOLE_DESTINATIONS
    tmux: bool = True
    presses: int = defaults.CONSOLE_PRESSES


@dataclass(slots=True)
class Run:
    where: str  # "headless (Pilot)" or "tmux"
    seconds: float
    cpu: float  # seconds of CPU in that time
    keys: dict[str, list[float]] = field(default_factory=dict)  # seconds, per key
    pilot: dict[str, list[float]] = field(default_factory=dict)  # Pilot.press returned
    # seconds the console's main (UI) thread waited for a CPU during each press
    queued: dict[str, list[float]] = field(default_factory=dict)
    rows: int = 0  # backend rows the dashboard showed
    polls: int = 0  # samples taken in the window (headless only)
    problems: list[str] = field(default_factory=list)

    @property
    def cpu_share(self) -> float:
        return self.cpu / self.seconds if self.seconds else float("nan")


@dataclass(slots=True)
class ConsoleReport:
    options: Options
    host: sandbox.Host
    runs: list[Run]
    traffic_pps: float
    skipped: list[str] = field(default_factory=list)
    pilot_floor: list[float] = field(default_factory=list)  # Pilot.press, empty app
    tmux_floor: list[float] = field(default_factory=list)  # a key echoed by cat in tmux

    @property
    def ok(self) -> bool:
        return all(not r.problems for r in self.runs)


def console_available() -> str | None:
    """None if the console can be benchmarked, else why not."""
    try:
        import l4lb_tui.app
        import l4lb_tui.console  # noqa: F401
    except ImportError as exc:
        return f"the console is not built yet ({exc})"
    return None


def _queued(pid: int) -> float:
    """Seconds the main thread of `pid` has spent runnable but waiting for a
    CPU (its run-queue wait, /proc/PID/task/PID/schedstat)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _cpu_self() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


# -- headless -----------------------------------------------------------------


async def _wait(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.001)
    return True


@dataclass(frozen=True, slots=True)
class _Frame:
    """One frame the app rendered (headless: composed, not written anywhere)."""

    at: float
    screen: object
    cursor: int  # the backend table's cursor row then


def _record_frames(app: Any, table: Callable[[], int]) -> list[_Frame]:
    """Every frame from now on, with when it was rendered and what it showed.

    App._display is where a rendered update goes to the terminal (the headless
    driver drops it): the first frame that shows a key's result is when the
    operator would see it, whatever the Pilot waits for afterwards.
    """
    frames: list[_Frame] = []
    display = app._display

    def recording(screen: object, renderable: object) -> None:
        display(screen, renderable)
        if renderable is not None:
            frames.append(_Frame(time.perf_counter(), screen, table()))

    app._display = recording
    return frames


def _headless(dev: str, opts: Options) -> Run:
    from textual.widgets import DataTable

    from l4lb_tui.app import ConsoleApp
    from l4lb_tui.console import ConsoleSettings, RealBackend, Sample
    from l4lb_tui.screens.help import HelpScreen

    class Counting(RealBackend):
        """The real backend, counting the samples the dashboard takes."""

        samples = 0

        def sample(self, ifname: str) -> Sample:
            Counting.samples += 1
            return super().sample(ifname)

    app = ConsoleApp(Counting(), dev, ConsoleSettings(poll_interval=1.0))
    run = Run("headless (Pilot)", 0.0, 0.0)

    async def drive() -> None:
        async with app.run_test(headless=True, size=SIZE) as pilot:
            if not await _wait(lambda: Counting.samples >= 2, timeout=30):
                run.problems.append("the dashboard took no samples")
            await asyncio.sleep(0.5)
            run.rows = _rows(app)
            dashboard = app.screen
            start_samples = Counting.samples
            cpu0, t0 = _cpu_self(), time.perf_counter()
            await asyncio.sleep(opts.seconds)
            run.cpu, run.seconds = _cpu_self() - cpu0, time.perf_counter() - t0
            run.polls = Counting.samples - start_samples
            table = dashboard.query_one(DataTable)
            frames = _record_frames(app, lambda: int(table.cursor_row))

            for i in range(opts.presses):
                # Spread the presses over the refresh cycle.
                await asyncio.sleep(0.37 + 0.11 * (i % 3))
                for key, label in (
                    ("question_mark", KEY_HELP),
                    ("escape", KEY_CLOSE),
                    ("down", KEY_DOWN),
                ):
                    if key == "down":
                        await asyncio.sleep(0.2)
                    before = _cursor(app, dashboard)

                    def shows(f: _Frame, key: str = key, before: int = before) -> bool:
                        if key == "question_mark":
                            return isinstance(f.screen, HelpScreen)
                        return f.screen is dashboard and (key != "down" or f.cursor != before)

                    del frames[:]  # only the frames after this key count
                    q = _queued(os.getpid())
                    t = time.perf_counter()
                    await pilot.press(key)
                    returned = time.perf_counter() - t
                    if not await _wait(lambda: any(shows(f) for f in frames)):
                        run.problems.append(f"no frame showed {key}")
                        return
                    first = next(f for f in frames if shows(f))
                    run.keys.setdefault(label, []).append(first.at - t)
                    run.queued.setdefault(label, []).append(_queued(os.getpid()) - q)
                    run.pilot.setdefault(label, []).append(returned)

    try:
        asyncio.run(drive())
    except Exception as exc:  # any failure of the console is a finding, not a crash
        run.problems.append(f"the console failed: {type(exc).__name__}: {exc}")
    return run


def pilot_floor(presses: int) -> list[float]:
    """Pilot.press on an empty app, in seconds: the Pilot's own round trip.

    It waits until the process looks idle (twice) and until the screen has
    handled every queued message, so it returns well after the key's frame.
    """
    from textual.app import App

    times: list[float] = []

    async def drive() -> None:
        async with App[None]().run_test(headless=True, size=SIZE) as pilot:
            await asyncio.sleep(0.2)
            for _ in range(presses):
                t = time.perf_counter()
                await pilot.press("down")
                times.append(time.perf_counter() - t)

    asyncio.run(drive())
    return times


def _cursor(app: Any, screen: Any = None) -> int:
    """Cursor row of the dashboard's backend table (-1 if none)."""
    from textual.widgets import DataTable

    with contextlib.suppress(Exception):
        return int((screen or app.screen).query_one(DataTable).cursor_row)
    return -1


def _rows(app: Any) -> int:
    """Rows of the dashboard's backend table (0 if it is not there)."""
    from textual.widgets import DataTable

    with contextlib.suppress(Exception):
        return max(int(t.row_count) for t in app.screen.query(DataTable))
    return 0


# -- tmux -----------------------------------------------------------------------


def _tmux(sock: str, *args: str) -> str:
    return sandbox.run(["tmux", "-L", sock, *args], timeout=10).stdout


def _proc_cpu(pid: int) -> float:
    """utime + stime + waited-for children's, in seconds, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _tmux_run(ns: str, dev: str, opts: Options, workdir: Path) -> Run:
    """The console in a tmux of its own.  A console that dies or hangs is a
    finding of this run (with its last screen), not an error of the bench."""
    sock = f"l4bench-{os.getpid()}"
    run = Run("tmux (real terminal)", 0.0, 0.0)
    # remain-on-exit: if the console dies, its last screen stays to be read.
    conf = workdir / "tmux.conf"
    conf.write_text("set -g remain-on-exit on\n")
    argv = [sys.executable, "-m", "l4lb_tui.app", "--netns", ns, "-i", dev]
    try:
        _tmux(
            sock,
            "-f",
            str(conf),
            "new-session",
            "-d",
            "-s",
            "bench",
            "-x",
            str(SIZE[0]),
            "-y",
            str(SIZE[1]),
            *argv,
        )
        _drive_tmux(sock, dev, opts, run)
    except (BenchError, _ConsoleGone) as exc:
        run.problems.append(str(exc))
    finally:
        with contextlib.suppress(BenchError):
            _tmux(sock, "kill-server")
    return run


def tmux_floor(presses: int) -> list[float]:
    """send-keys until capture-pane shows the key, in seconds, with `cat` in
    the pane: what the tmux figures include of tmux's own (its client
    processes, the pty, its parsing) and nothing of the console."""
    sock = f"l4bench-floor-{os.getpid()}"
    times: list[float] = []
    try:
        _tmux(
            sock, "new-session", "-d", "-s", "floor", "-x", str(SIZE[0]), "-y", str(SIZE[1]), "cat"
        )
        time.sleep(0.3)
        for n in range(1, presses + 1):
            time.sleep(0.1)
            t = time.perf_counter()
            _tmux(sock, "send-keys", "-t", "floor", "z")
            while _tmux(sock, "capture-pane", "-p", "-t", "floor").count("z") < n:
                if time.perf_counter() - t > 5:
                    return times
            times.append(time.perf_counter() - t)
    finally:
        with contextlib.suppress(BenchError):
            _tmux(sock, "kill-server")
    return times


class _ConsoleGone(Exception):
    """The console's process ended during the run."""


def _drive_tmux(sock: str, dev: str, opts: Options, run: Run) -> None:
    pane = _tmux(sock, "list-panes", "-t", "bench", "-F", "#{pane_pid} #{pane_dead}").split()
    pid = int(pane[0])

    def screen() -> str:
        text = _tmux(sock, "capture-pane", "-p", "-t", "bench")
        if _tmux(sock, "list-panes", "-t", "bench", "-F", "#{pane_dead}").strip() == "1":
            last = [ln for ln in text.splitlines() if ln.strip()][-3:]
            raise _ConsoleGone(f"the console exited: {' | '.join(last) or 'no output'}")
        return text

    deadline = time.monotonic() + 30
    while dev not in screen() or "172.16.0." not in screen():
        if time.monotonic() > deadline:
            run.problems.append("the dashboard did not show the backends in 30 s")
            return
        time.sleep(0.1)
    time.sleep(2.0)  # a refresh or two
    cpu0, t0 = _proc_cpu(pid), time.perf_counter()
    time.sleep(opts.seconds)
    run.cpu, run.seconds = _proc_cpu(pid) - cpu0, time.perf_counter() - t0
    run.rows = screen().count("172.16.")
    for i in range(opts.presses):
        time.sleep(0.37 + 0.11 * (i % 3))
        for key, want, label in (("?", True, KEY_HELP), ("Escape", False, KEY_CLOSE)):
            q = _queued(pid)
            t = time.perf_counter()
            _tmux(sock, "send-keys", "-t", "bench", key)
            while (HELP_MARKER in _tmux(sock, "capture-pane", "-p", "-t", "bench")) != want:
                if time.perf_counter() - t > 5:
                    screen()  # raises if the console died meanwhile
                    run.problems.append(f"no reaction to {key} in 5 s")
                    return
            run.keys.setdefault(label, []).append(time.perf_counter() - t)
            run.queued.setdefault(label, []).append(_queued(pid) - q)


# -- the run --------------------------------------------------------------------


@contextlib.contextmanager
def _traffic(pair: sandbox.VethPair, dev_mac: str) -> Iterator[subprocess.Popen[str]]:
    """Random-source UDP to the service from the peer's namespace."""
    vip = parse_service(SERVICE)[0]
    sandbox.run(["ip", "-n", pair.peer_ns, "addr", "add", f"{CLIENT}/24", "dev", pair.peer])
    sandbox.run(
        ["ip", "-n", pair.peer_ns, "neigh", "replace", vip.vip, "lladdr", dev_mac, "dev", pair.peer]
    )
    argv = [
        "ip",
        "netns",
        "exec",
        pair.peer_ns,
        "hping3",
        vip.vip,
        "-I",
        pair.peer,
        "-q",
        "-2",
        "--rand-source",
        "-p",
        str(vip.port),
        "-i",
        f"u{TRAFFIC_INTERVAL_US}",
    ]
    proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=sandbox.die_with_parent,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait()


def run_console(opts: Options, log: Callable[[str], None] = print) -> ConsoleReport:
    sandbox.need_root("l4lb bench console")
    why = console_available()
    if why:
        return ConsoleReport(opts, sandbox.host(), [], 0.0, [why])
    if shutil.which("hping3") is None:
        raise BenchError("hping3 not found: install it (apt-get install hping3)")
    sandbox.reap_stale()
    runs: list[Run] = []
    skipped: list[str] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(sandbox.terminate_cleanly())
        pair = stack.enter_context(sandbox.veth_namespace(split=True))
        stack.enter_context(sandbox.inside(pair.ns))
        bal = Balancer(pair.dev, netlink=Netlink())
        try:
            bal.attach("driver", "10.0.0.1")
            bal.load(parse_service(SERVICE), synthetic(opts.destinations))
            mac = bal.link().mac
        except (BalancerError, BpfError) as exc:
            raise BenchError(f"balancer: {exc}") from None
        stack.callback(_quiet_detach, bal)
        stack.enter_context(_traffic(pair, mac))
        c0 = bal.counters()
        log(f"  headless console, {opts.seconds:g} s")
        runs.append(_headless(pair.dev, opts))
        floor = pilot_floor(opts.presses) if opts.presses else []
        tmux_base: list[float] = []
        if not opts.tmux:
            skipped.append("tmux run skipped (--no-tmux)")
        elif shutil.which("tmux") is None:
            skipped.append("tmux run skipped: tmux is not installed")
        else:
            log(f"  console in tmux, {opts.seconds:g} s")
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="l4lb-bench-")))
            runs.append(_tmux_run(pair.ns, pair.dev, opts, workdir))
            tmux_base = tmux_floor(opts.presses) if opts.presses else []
        c1 = bal.counters()
        moved = sum(p for p, _ in c1.backends.values()) - sum(p for p, _ in c0.backends.values())
        pps = moved / (c1.taken_at - c0.taken_at)
        if moved == 0:
            for r in runs:
                r.problems.append("no traffic reached the balancer")
        return ConsoleReport(opts, sandbox.host(), runs, pps, skipped, floor, tmux_base)
    raise AssertionError("unreachable")  # pragma: no cover


def _quiet_detach(bal: Balancer) -> None:
    with contextlib.suppress(BalancerError, BpfError):
        bal.detach()


def format_report(rep: ConsoleReport) -> str:
    out = [
        "l4lb bench console",
        f"  {rep.host.line()}",
    ]
    if not rep.runs:
        out += [f"  not measured: {'; '.join(rep.skipped)}"]
        return "\n".join(out)
    out += [
        f"  {rep.options.destinations} destinations ({SERVICE}), {rep.traffic_pps:,.0f} packets/s "
        f"of random-source traffic; the dashboard refreshes every second; {SIZE[0]}x{SIZE[1]}",
        "",
    ]
    rows = []
    for r in rep.runs:
        rows.append(
            [
                r.where,
                f"{r.seconds:.1f}",
                f"{100 * r.cpu_share:.1f}%",
                "meets" if r.cpu_share <= TARGET_CPU else "MISSES",
                str(r.polls) if r.polls else "-",
                str(r.rows),
                "; ".join(r.problems) or "ok",
            ]
        )
    out.append(
        table(
            ["console", "s", "CPU/s", "<=10% core", "polls", "rows", "checks"],
            rows,
            right={1, 2, 4, 5},
        )
    )
    krows = []
    for r in rep.runs:
        for label, times in r.keys.items():
            ks = sorted(times)
            pilot = r.pilot.get(label)
            queued = r.queued.get(label, [])
            slowest = times.index(ks[-1])
            waited = f"{1e3 * queued[slowest]:.0f}" if slowest < len(queued) else "-"
            krows.append(
                [
                    r.where,
                    label,
                    str(len(ks)),
                    f"{1e3 * statistics.median(ks):.0f}",
                    f"{1e3 * ks[-1]:.0f}",
                    "meets" if ks[-1] <= TARGET_KEY else "MISSES",
                    waited,
                    f"{1e3 * statistics.median(pilot):.0f}" if pilot else "-",
                    f"{1e3 * max(pilot):.0f}" if pilot else "-",
                ]
            )
    if rep.pilot_floor:
        fl = rep.pilot_floor
        krows.append(
            [
                "empty App (Pilot)",
                "Down (nothing bound)",
                str(len(fl)),
                "-",
                "-",
                "-",
                "-",
                f"{1e3 * statistics.median(fl):.0f}",
                f"{1e3 * max(fl):.0f}",
            ]
        )
    if rep.tmux_floor:
        fl = sorted(rep.tmux_floor)
        krows.append(
            [
                "tmux, cat in the pane",
                "z (echoed)",
                str(len(fl)),
                f"{1e3 * statistics.median(fl):.0f}",
                f"{1e3 * fl[-1]:.0f}",
                "-",
                "-",
                "-",
                "-",
            ]
        )
    out += ["", "key-press latency, ms (until the screen shows the result)"]
    out.append(
        table(
            ["console", "key", "n", "median", "max", "<=100 ms", "CPU wait", "Pilot.press", "max"],
            krows,
            right={2, 3, 4, 6, 7, 8},
        )
    )
    out += [
        "",
        "  CPU/s: CPU seconds per wall second (headless: this process + the bpftool processes "
        "it ran; tmux: the console's process + its children, from /proc)",
        "  keys: headless, from Pilot.press until the first frame the app rendered that shows "
        "the result (help up, help gone, cursor on the next row); tmux, from send-keys until "
        "capture-pane shows it",
        "  CPU wait: during the slowest press, how long the console's UI thread was ready to "
        "run but waiting for a CPU (run-queue wait, /proc schedstat): other processes' load",
        "  Pilot.press: until that call returned, for reference only: it then waits until the "
        "process looks idle, twice, and for every queued message; 'empty App' is that "
        "round trip with nothing to do; 'tmux, cat in the pane' is tmux's own send-keys to "
        "capture-pane round trip, included in the tmux rows; tmux's Esc includes the console's "
        "50 ms wait that tells the Esc key from the start of an escape sequence",
        *(f"  {s}" for s in rep.skipped),
    ]
    return "\n".join(out)
