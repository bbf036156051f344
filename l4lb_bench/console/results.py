"""What a run was asked to do, the targets it is held to, and what each
console run found."""

from __future__ import annotations

from dataclasses import dataclass, field

from l4lb_bench import defaults, machine

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
    size: tuple[int, int] = SIZE  # the terminal's columns and lines


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
    host: machine.Host
    runs: list[Run]
    traffic_pps: float
    skipped: list[str] = field(default_factory=list)
    pilot_floor: list[float] = field(default_factory=list)  # Pilot.press, empty app
    tmux_floor: list[float] = field(default_factory=list)  # a key echoed by cat in tmux

    @property
    def ok(self) -> bool:
        return all(not r.problems for r in self.runs)
