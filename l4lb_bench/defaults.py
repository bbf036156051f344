"""Defaults of every benchmark, in one light module: `register` reads them
without importing the benchmarks (and their imports) into every `l4lb` run."""

from __future__ import annotations

# dataplane (issue 6: at least 1,000,000 packets a run, 9 rounds)
DATAPLANE_REPEAT = 1_000_000
DATAPLANE_ROUNDS = 9
DATAPLANE_QUICK_REPEAT = 20_000
DATAPLANE_QUICK_ROUNDS = 2
KIND_NAMES = (
    "syn-new",
    "udp-new",
    "tcp-est",
    "udp-est",
    "udp-10k",
    "udp-100k",
    "udp-1m",
    "udp-1500",
    "not-vip",
    "vip-port",
    "syn6-new",
    "udp6-new",
    "udp6-est",
    "not-vip6",
    "arp",
)

# lab: the live-frames generator (windows per program, interleaved rounds)
LAB_WINDOW = 3.0
LAB_QUICK_WINDOW = 1.0
LAB_ROUNDS = 5
LAB_QUICK_ROUNDS = 1
LAB_FLOWS = 10_000
# lab --generator hping3
LAB_DURATION = 10.0
LAB_QUICK_DURATION = 2.0
LAB_SOURCES = 4

# control
CONTROL_SIZES = (32, 512, 4096)
CONTROL_QUICK_SIZES = (32,)
CONTROL_POLLS = 10
CONTROL_QUICK_POLLS = 2

# console
CONSOLE_SECONDS = 10.0
CONSOLE_QUICK_SECONDS = 2.0
CONSOLE_DESTINATIONS = 512
CONSOLE_PRESSES = 8
CONSOLE_QUICK_PRESSES = 1

# health
HEALTH_QUICK_SECONDS = 2.0
