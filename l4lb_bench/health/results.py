"""What each round of `l4lb bench health` found, and the target it is held to."""

from __future__ import annotations

from dataclasses import dataclass, field

TARGET_SHARE = 10.0  # percent of one core, issue 15


@dataclass
class Phase:
    name: str
    check: str
    backends: int
    seconds: float = 0.0
    cpu: float = 0.0  # exact (the scheduler's run time), where user and system are sampled
    user: float = 0.0
    system: float = 0.0
    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    details: dict[str, int] = field(default_factory=dict)
    steered: bool = True  # the backends' packets processed on another CPU
    load: float = 0.0  # the host's load average after the round, this run included

    @property
    def share(self) -> float:
        return 100.0 * self.cpu / self.seconds if self.seconds else 0.0

    @property
    def rate(self) -> float:
        return (self.ok + self.failed) / self.seconds if self.seconds else 0.0

    @property
    def verified(self) -> bool:
        # Every backend probed about once a second, and (almost) every probe
        # connected: else the figure timed something else (timeouts, a
        # listener that fell behind on a busy host).
        return self.failed <= 0.001 * (self.ok + self.failed) and self.rate >= 0.9 * self.backends
