"""The machine the figures were taken on."""

from __future__ import annotations

import contextlib
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Host:
    kernel: str
    cpu_model: str
    cpus: int
    date: str
    load: float  # 1-minute load average when the figures were taken

    def line(self) -> str:
        return (
            f"{self.date}, kernel {self.kernel}, {self.cpus} x {self.cpu_model}, "
            f"load average {self.load:.1f}"
        )


def host() -> Host:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return Host(
        kernel=platform.release(),
        cpu_model=model,
        cpus=os.cpu_count() or 1,
        date=time.strftime("%Y-%m-%d %H:%M %Z"),
        load=os.getloadavg()[0],
    )
