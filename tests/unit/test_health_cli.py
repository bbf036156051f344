"""The commands around health checks: `lab break/fix` and `bench health`
parse as documented, and the benchmark's report says what it measured."""

from __future__ import annotations

import argparse

import pytest

from l4lb_bench.cli import build_parser as bench_parser
from l4lb_bench.health import Phase, format_report
from l4lb_tui.lab import faults
from l4lb_tui.lab.cli import register


def lab_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="l4lb")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_lab_break_and_fix_parse() -> None:
    args = lab_parser().parse_args(["lab", "break", "--backend", "2", "--how", "vip"])
    assert (args.lab_command, args.backend, args.how) == ("break", 2, "vip")
    args = lab_parser().parse_args(["lab", "fix", "--backend", "1", "--prefix", "t1"])
    assert (args.lab_command, args.backend, args.how, args.prefix) == ("fix", 1, None, "t1")


@pytest.mark.parametrize(
    "argv",
    [
        ["lab", "break", "--backend", "1"],  # how is required to break
        ["lab", "break", "--backend", "0", "--how", "vip"],
        ["lab", "break", "--backend", "1", "--how", "cable"],
    ],
)
def test_lab_break_refuses(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        lab_parser().parse_args(argv)


def test_the_cli_offers_every_fault() -> None:
    parser = lab_parser()
    for how in faults.FAULTS:
        assert parser.parse_args(["lab", "break", "--backend", "1", "--how", how]).how == how


def test_bench_health_parses() -> None:
    args = bench_parser().parse_args(["bench", "health", "--quick", "--check", "udp"])
    assert (args.bench_command, args.quick, args.check, args.backends) == (
        "health",
        True,
        "udp",
        4096,
    )


def phase(share: float, failed: int = 0, steered: bool = True) -> Phase:
    return Phase(
        "p", "tcp", 4096, seconds=10.0, cpu=share / 10, ok=40960 - failed, failed=failed,
        latencies=[0.0003] * 10, steered=steered,
    )  # fmt: skip


def test_the_report_judges_the_median_of_the_steered_rounds() -> None:
    text = format_report([phase(9.0), phase(12.0), phase(9.5), phase(30.0, steered=False)])
    assert "target: <= 10% of one core: met (9.5%, rounds 9.0-12.0%)" in text
    assert "30.0% of one core" in text
    assert "MISSED (11.0%)" in format_report([phase(11.0)])


def test_a_figure_with_failed_probes_is_unverified() -> None:
    assert phase(9.0).verified and phase(9.0, failed=40).verified
    assert not phase(9.0, failed=41).verified
    assert "UNVERIFIED" in format_report([phase(9.0, failed=500)])
